package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/fluxbot/fluxbot/ratelimit"
)

// The queue tests run in synctest bubbles: synctest.Wait returns once every
// goroutine is blocked, so each step's effects are settled without sleeps.

type harness struct {
	t *testing.T
	q *ratelimit.Queue

	mu     sync.Mutex
	grants []*req // in grant order
}

type req struct {
	id     int
	user   string
	cancel context.CancelFunc

	// set by the Acquire goroutine, read under harness.mu
	positions []int
	release   func()
	err       error
	returned  bool
	released  bool
}

func newHarness(t *testing.T, capacity int) *harness {
	return &harness{t: t, q: ratelimit.NewQueue(capacity)}
}

// arrive starts one Acquire and waits until it is granted or waiting.
func (h *harness) arrive(id int, user string) *req {
	ctx, cancel := context.WithCancel(h.t.Context())
	r := &req{id: id, user: user, cancel: cancel}
	go func() {
		release, err := h.q.Acquire(ctx, user, func(p int) {
			h.mu.Lock()
			r.positions = append(r.positions, p)
			h.mu.Unlock()
		})
		h.mu.Lock()
		r.release, r.err, r.returned = release, err, true
		if err == nil {
			h.grants = append(h.grants, r)
		}
		h.mu.Unlock()
	}()
	synctest.Wait()
	return r
}

func (h *harness) position(r *req) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(r.positions) == 0 {
		return -1
	}
	return r.positions[len(r.positions)-1]
}

// waiting reports whether r is still in line.
func (h *harness) waiting(r *req) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return !r.returned
}

// release gives back r's slot and lets the next grant settle.
func (h *harness) release(r *req) {
	h.t.Helper()
	h.mu.Lock()
	rel := r.release
	r.released = true
	h.mu.Unlock()
	if rel == nil {
		h.t.Fatalf("request %d holds no slot", r.id)
	}
	rel()
	synctest.Wait()
}

func (h *harness) held() []*req {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*req
	for _, r := range h.grants {
		if !r.released {
			out = append(out, r)
		}
	}
	return out
}

func (h *harness) order() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.grants {
		b.WriteString(r.user)
	}
	return b.String()
}

func (h *harness) check(wantLen, wantInFlight int) {
	h.t.Helper()
	if got, got2 := h.q.Len(), h.q.InFlight(); got != wantLen || got2 != wantInFlight {
		h.t.Fatalf("Len, InFlight = %d, %d, want %d, %d", got, got2, wantLen, wantInFlight)
	}
}

// drain releases every held slot until nothing is in flight.
func (h *harness) drain() {
	for {
		held := h.held()
		if len(held) == 0 {
			return
		}
		for _, r := range held {
			h.release(r)
		}
	}
}

func TestQueueCap(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 2)
		var rs []*req
		for i := range 5 {
			rs = append(rs, h.arrive(i, "a"))
		}
		h.check(3, 2)
		if got := h.position(rs[0]); got != 0 {
			t.Errorf("granted at once: last position %d, want 0", got)
		}
		for i, r := range rs[2:] {
			if got := h.position(r); got != i+1 {
				t.Errorf("request %d position %d, want %d", r.id, got, i+1)
			}
		}
		h.release(rs[0])
		h.check(2, 2)
		if got := h.position(rs[2]); got != 0 {
			t.Errorf("request 2 position %d after a release, want 0 (granted)", got)
		}
		if got := h.position(rs[4]); got != 2 {
			t.Errorf("request 4 position %d, want 2", got)
		}
		h.drain()
		h.check(0, 0)
		if got, want := h.order(), "aaaaa"; got != want {
			t.Errorf("order %q, want %q", got, want)
		}
	})
}

func TestQueueNewQueueMinimumCapacity(t *testing.T) {
	if got := ratelimit.NewQueue(0).Cap(); got != 1 {
		t.Errorf("NewQueue(0).Cap() = %d, want 1", got)
	}
}

func TestQueueCancel(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1)
		holder := h.arrive(0, "h")
		a := h.arrive(1, "a")
		b := h.arrive(2, "b")
		a2 := h.arrive(3, "a")
		c := h.arrive(4, "c")
		for r, want := range map[*req]int{a: 1, b: 2, a2: 4, c: 3} {
			if got := h.position(r); got != want {
				t.Errorf("%s%d position %d, want %d", r.user, r.id, got, want)
			}
		}
		b.cancel()
		synctest.Wait()
		h.mu.Lock()
		bErr, bRel, bPos := b.err, b.release, b.positions
		h.mu.Unlock()
		if !errors.Is(bErr, context.Canceled) || bRel != nil {
			t.Errorf("cancelled Acquire = %v, %v; want nil, context.Canceled", bRel != nil, bErr)
		}
		h.check(3, 1)
		for r, want := range map[*req]int{a: 1, a2: 3, c: 2} {
			if got := h.position(r); got != want {
				t.Errorf("after cancel: %s%d position %d, want %d", r.user, r.id, got, want)
			}
		}
		if got, want := bPos, []int{2}; fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("cancelled request saw positions %v, want %v", got, want)
		}
		h.release(holder)
		h.drain()
		if got, want := h.order(), "haca"; got != want {
			t.Errorf("order %q, want %q", got, want)
		}
		h.check(0, 0)
	})
}

func TestQueueCancelledContext(t *testing.T) {
	q := ratelimit.NewQueue(1)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	if rel, err := q.Acquire(ctx, "a", func(int) { called = true }); rel != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Acquire(cancelled) = %v, %v", rel != nil, err)
	}
	if called || q.InFlight() != 0 || q.Len() != 0 {
		t.Errorf("called %v, InFlight %d, Len %d; want false, 0, 0", called, q.InFlight(), q.Len())
	}
}

func TestQueueReleaseIdempotent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1)
		a := h.arrive(0, "a")
		b := h.arrive(1, "b")
		c := h.arrive(2, "c")
		h.release(a)
		h.release(a) // must not free b's slot for c
		h.check(1, 1)
		if !h.waiting(c) {
			t.Fatal("second release granted another slot")
		}
		h.release(b)
		h.release(c)
		h.check(0, 0)
		h.release(c)
		h.check(0, 0) // InFlight does not go negative
	})
}

func TestQueueGrantRacingCancel(t *testing.T) {
	for i := range 20 {
		synctest.Test(t, func(t *testing.T) {
			h := newHarness(t, 1)
			a := h.arrive(0, "a")
			b := h.arrive(1, "b")
			h.mu.Lock()
			rel := a.release
			h.mu.Unlock()
			rel()      // grants b ...
			b.cancel() // ... while b's context ends
			synctest.Wait()
			h.mu.Lock()
			bErr, bRel := b.err, b.release
			h.mu.Unlock()
			want := 1
			if bErr != nil {
				want = 0 // b gave its slot back
			}
			if got := h.q.InFlight(); got != want {
				t.Fatalf("run %d: b err %v, InFlight %d, want %d", i, bErr, got, want)
			}
			if bErr == nil {
				bRel()
			}
		})
	}
}

func TestQueueNeverDrops(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 3)
		const n = 200
		for i := range n {
			h.arrive(i, string(rune('a'+i%7)))
		}
		h.check(n-3, 3)
		h.drain()
		h.check(0, 0)
		if got := len(h.grants); got != n {
			t.Errorf("%d grants, want %d", got, n)
		}
	})
}

// TestQueueFairness is the scenario: A queues 10 requests, then B
// and C 3 each, while the only slot is taken.
func TestQueueFairness(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1)
		holder := h.arrive(0, "H")
		var rs []*req
		for _, u := range strings.Split(strings.Repeat("A", 10)+"BBBCCC", "") {
			rs = append(rs, h.arrive(len(rs)+1, u))
		}
		const want = "HABCABCABCAAAAAAA"
		// Every waiter's current position is its place in the final order.
		for _, r := range rs {
			if got, want := h.position(r), rank(want[1:], r, rs); got != want {
				t.Errorf("%s%d position %d, want %d", r.user, r.id, got, want)
			}
		}
		// A new request joins its user's next round; a new user joins the rotation's tail.
		if got := h.q.Position("B"); got != 11 { // round 3: after A's 4th, before A's 5th
			t.Errorf("Position(B) = %d, want 11", got)
		}
		if got := h.q.Position("D"); got != 4 {
			t.Errorf("Position(D) = %d, want 4", got)
		}
		h.release(holder)
		h.drain()
		if got := h.order(); got != want {
			t.Errorf("service order %q, want %q", got, want)
		}
	})
}

// rank is r's 1-based place among its user's requests mapped into order.
func rank(order string, r *req, rs []*req) int {
	nth := 0
	for _, o := range rs {
		if o == r {
			break
		}
		if o.user == r.user {
			nth++
		}
	}
	for i := range order {
		if order[i] == r.user[0] {
			if nth == 0 {
				return i + 1
			}
			nth--
		}
	}
	return -1
}

func TestQueuePositionEstimate(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := newHarness(t, 1)
		if got := h.q.Position("a"); got != 0 {
			t.Errorf("Position with a free slot = %d, want 0", got)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		for i := range 60 {
			u := string(rune('a' + rng.IntN(5)))
			est := h.q.Position(u)
			r := h.arrive(i, u)
			if got := h.position(r); got != est {
				t.Fatalf("request %d (%s): Position estimated %d, Acquire reported %d", i, u, est, got)
			}
		}
		h.drain()
	})
}

// TestQueueFairnessProperty drives random arrivals, releases and
// cancellations and checks the guarantee documented on Queue: while a
// request R of user U waits, between U's previous grant (or R's arrival,
// whichever is later) and R's grant, no other user is granted twice; hence
// R, the k-th waiting request of U when it arrived, waits behind at most k
// grants of any one other user.
func TestQueueFairnessProperty(t *testing.T) {
	for seed := range uint64(20) {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				rng := rand.New(rand.NewPCG(seed, 99))
				h := newHarness(t, 1+int(seed%3))
				type info struct {
					arrivedAt int // len(grants) at arrival
					k         int // rank among U's waiters at arrival
				}
				infos := map[*req]info{}
				var live []*req // arrived, not cancelled
				for i := range 400 {
					switch x := rng.IntN(100); {
					case x < 50:
						u := string(rune('a' + rng.IntN(4)))
						k := 1
						for _, r := range live {
							if r.user == u && h.waiting(r) {
								k++
							}
						}
						h.mu.Lock()
						at := len(h.grants)
						h.mu.Unlock()
						r := h.arrive(i, u)
						if h.waiting(r) {
							infos[r] = info{at, k}
						}
						live = append(live, r)
					case x < 85:
						if held := h.held(); len(held) > 0 {
							h.release(held[rng.IntN(len(held))])
						}
					default:
						var w []*req
						for _, r := range live {
							if h.waiting(r) {
								w = append(w, r)
							}
						}
						if len(w) > 0 {
							w[rng.IntN(len(w))].cancel()
							synctest.Wait()
						}
					}
				}
				h.drain()
				h.check(0, 0)

				prevGrant := map[string]int{} // user → index of their last grant
				for g, r := range h.grants {
					inf, waited := infos[r]
					if waited {
						start := inf.arrivedAt
						if p, ok := prevGrant[r.user]; ok && p+1 > start {
							start = p + 1
						}
						since, total := map[string]int{}, map[string]int{}
						for _, o := range h.grants[start:g] {
							since[o.user]++
						}
						for _, o := range h.grants[inf.arrivedAt:g] {
							total[o.user]++
						}
						for v, n := range since {
							if v != r.user && n > 1 {
								t.Errorf("request %d of %s: %s was granted %d times since %s's previous grant", r.id, r.user, v, n, r.user)
							}
						}
						for v, n := range total {
							if v != r.user && n > inf.k {
								t.Errorf("request %d of %s (k=%d): waited behind %d grants of %s", r.id, r.user, inf.k, n, v)
							}
						}
					}
					prevGrant[r.user] = g
				}
				if t.Failed() {
					t.Logf("order %s", h.order())
				}
			})
		})
	}
}
