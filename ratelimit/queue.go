package ratelimit

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
)

// Queue caps one vendor's jobs in flight and lines up the requests beyond
// the cap, serving users round-robin. It is safe for concurrent use. Create
// it with [NewQueue]; the zero value is not usable.
//
// Order: each user has a FIFO of waiting requests, and users with waiters
// form a rotation in the order they joined it. When a slot frees, the user
// at the head of the rotation gets it for their oldest request and moves to
// the tail if they still have waiters (otherwise they leave; coming back
// later joins at the tail).
//
// Guarantee: while a user U has requests waiting, each other user is served
// at most once between two consecutive grants to U, and at most once
// before U's first grant. So a request that was the k-th of its user's
// waiting requests when it arrived waits behind at most k queued jobs of
// any other user, and a user's next request never waits behind more than
// one job of anyone else, however many they queued or when they queued
// them. Jobs already in flight are outside the queue and not counted. A
// waiting request is never dropped: only its own context removes it.
type Queue struct {
	cap int

	mu       sync.Mutex
	inFlight int
	waiting  int
	users    map[string]*lane // users with waiters
	rotation []*lane          // users with waiters, next to serve first
	scratch  []*lane
}

// lane is one user's waiting requests, oldest first.
type lane struct {
	user    string
	waiters []*waiter
}

type waiter struct {
	lane    *lane
	wake    chan struct{} // buffered 1: position changed or slot granted
	watch   bool          // wants position updates
	pos     int           // 1-based place in line; 0 when granted
	granted bool
}

// NewQueue returns a Queue that lets capacity jobs run at once. A capacity
// below 1 is taken as 1.
func NewQueue(capacity int) *Queue {
	return &Queue{cap: max(capacity, 1), users: map[string]*lane{}}
}

// Acquire waits for a slot for one of user's jobs and returns a release
// func that gives it back; release is idempotent and safe to call from any
// goroutine. If ctx ends first, Acquire returns ctx.Err(): the request
// leaves the line, the others move up, and no slot is held (a slot granted
// at the same moment is passed on). An already-ended ctx fails at once.
//
// position, if not nil, is told the request's 1-based place in line (1:
// next to be served) when it changes, and 0 once the slot is granted (also
// when it is granted at once). It is called only from the goroutine that
// called Acquire, between waits, never concurrently with itself and never
// with the queue's lock held, so it may call the Queue's methods. While a
// slow callback runs the request keeps its place; updates meanwhile are
// coalesced into the latest. The call with 0 happens after the slot is
// held.
func (q *Queue) Acquire(ctx context.Context, user string, position func(int)) (release func(), err error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	q.mu.Lock()
	if q.inFlight < q.cap { // free slots imply nobody waits
		q.inFlight++
		q.mu.Unlock()
		if position != nil {
			position(0)
		}
		return q.releaser(), nil
	}
	w := &waiter{wake: make(chan struct{}, 1), watch: position != nil}
	ln := q.users[user]
	if ln == nil {
		ln = &lane{user: user}
		q.users[user] = ln
		q.rotation = append(q.rotation, ln)
	}
	w.lane = ln
	ln.waiters = append(ln.waiters, w)
	q.waiting++
	q.reposition()
	q.mu.Unlock()

	last := 0
	for {
		select {
		case <-w.wake:
			q.mu.Lock()
			p, granted := w.pos, w.granted
			q.mu.Unlock()
			if granted {
				if position != nil {
					position(0)
				}
				return q.releaser(), nil
			}
			if position != nil && p != last {
				last = p
				position(p)
			}
		case <-ctx.Done():
			q.mu.Lock()
			if w.granted {
				q.mu.Unlock()
				q.releaser()()
				return nil, ctx.Err()
			}
			q.remove(w)
			q.reposition()
			q.mu.Unlock()
			return nil, ctx.Err()
		}
	}
}

// Len reports how many requests are waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.waiting
}

// InFlight reports how many slots are held.
func (q *Queue) InFlight() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.inFlight
}

// Cap reports the number of slots.
func (q *Queue) Cap() int { return q.cap }

// Position reports the place a request from user would take if it arrived
// now: 0 if it would start at once, else its 1-based place in line. It is
// an estimate for an acknowledgement ("you are number 3"); Acquire reports
// the real place.
func (q *Queue) Position(user string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.inFlight < q.cap {
		return 0
	}
	ln := q.users[user]
	if ln == nil {
		return len(q.rotation) + 1 // joins the tail of the rotation
	}
	// It would be the user's round-j request (0-based): everyone's first j
	// requests go before it, and in round j those ahead in the rotation.
	j, ahead, before := len(ln.waiters), 0, true
	for _, o := range q.rotation {
		if o == ln {
			before = false
		}
		ahead += min(len(o.waiters), j)
		if before && len(o.waiters) > j {
			ahead++
		}
	}
	return ahead + 1
}

// releaser returns an idempotent func that frees one slot.
func (q *Queue) releaser() func() {
	var once atomic.Bool
	return func() {
		if !once.CompareAndSwap(false, true) {
			return
		}
		q.mu.Lock()
		q.inFlight--
		if q.dispatch() {
			q.reposition()
		}
		q.mu.Unlock()
	}
}

// dispatch grants free slots round-robin and reports whether it granted
// any. q.mu must be held.
func (q *Queue) dispatch() bool {
	granted := false
	for q.inFlight < q.cap && len(q.rotation) > 0 {
		ln := q.rotation[0]
		w := ln.waiters[0]
		ln.waiters[0] = nil
		ln.waiters = ln.waiters[1:]
		copy(q.rotation, q.rotation[1:])
		if len(ln.waiters) > 0 {
			q.rotation[len(q.rotation)-1] = ln // to the tail
		} else {
			q.rotation[len(q.rotation)-1] = nil
			q.rotation = q.rotation[:len(q.rotation)-1]
			delete(q.users, ln.user)
		}
		q.waiting--
		q.inFlight++
		w.granted, w.pos = true, 0
		notify(w)
		granted = true
	}
	return granted
}

// remove takes a cancelled waiter out of line. q.mu must be held.
func (q *Queue) remove(w *waiter) {
	ln := w.lane
	if i := slices.Index(ln.waiters, w); i >= 0 {
		ln.waiters = slices.Delete(ln.waiters, i, i+1)
		q.waiting--
	}
	if len(ln.waiters) == 0 {
		if i := slices.Index(q.rotation, ln); i >= 0 {
			q.rotation = slices.Delete(q.rotation, i, i+1)
		}
		delete(q.users, ln.user)
	}
}

// reposition recomputes every waiter's place by walking the service order
// (round j serves the j-th waiter of each user still in the rotation) and
// wakes those whose place changed. It is O(waiters + users). q.mu must be
// held.
func (q *Queue) reposition() {
	all := append(q.scratch[:0], q.rotation...)
	active, p := all, 1
	for j := 0; len(active) > 0; j++ {
		k := 0
		for _, ln := range active {
			if w := ln.waiters[j]; w.pos != p {
				w.pos = p
				if w.watch {
					notify(w)
				}
			}
			p++
			if len(ln.waiters) > j+1 {
				active[k] = ln
				k++
			}
		}
		active = active[:k]
	}
	clear(all)
	q.scratch = all[:0]
}

func notify(w *waiter) {
	select {
	case w.wake <- struct{}{}:
	default: // a wake-up is pending; the waiter reads the latest state
	}
}
