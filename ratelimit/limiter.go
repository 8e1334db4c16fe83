package ratelimit

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/patrickmn/go-cache"
)

const dayNanos = int64(24 * time.Hour)

// janitorEvery is how often go-cache sweeps expired entries. Get already
// ignores an expired entry, so this only bounds how long its memory lingers.
const janitorEvery = 5 * time.Minute

// Limiter admits jobs per user: an allowlist of channels, a daily quota, a
// cap on jobs in flight and a token bucket (see [Config]). It is safe for
// concurrent use. Create it with [New]; the zero value is not usable.
//
// The token bucket is implemented here rather than with
// golang.org/x/time/rate: a job refused before the vendor accepted it gives
// its token back minutes after it was taken ([Ticket.Done]), which
// rate.Reservation.CancelAt does not do once the reservation's time has
// passed; an own bucket also keeps one small struct per user instead of a
// rate.Limiter with its own mutex, and its integer arithmetic makes the
// retry-after exact to the nanosecond.
//
// Buckets and daily counts share one go-cache entry per user, which expires
// when it would hold nothing a new entry does not: at the later of the
// moment the bucket is full again and the next UTC midnight (if the user
// made images today). An idle user therefore costs nothing. go-cache runs a
// janitor goroutine that has no Stop method; it ends through a finalizer
// once the Limiter is unreachable, so a long-lived process should create
// one Limiter and keep it (goleak reports the janitor in tests). Jobs in
// flight are counted in a plain map whose entries go at zero: they never
// expire while a job runs.
type Limiter struct {
	burst    int64 // 0: no rate limit
	per      int64 // nanoseconds to refill the whole bucket
	conc     int
	quota    int
	admins   map[string]struct{}
	channels map[string]struct{} // empty: every channel

	mu       sync.Mutex
	states   *cache.Cache   // user → *state; missing means full bucket, nothing used today
	inFlight map[string]int // user → jobs holding a slot; no entry at 0
}

// state is one user's bucket and daily count.
//
// The bucket holds deficit, how far it is from full, in units where one
// token is per and the bucket refills burst units per nanosecond; it is
// full at deficit 0 and empty at burst*per. Integer units keep refills and
// retry-afters exact for any Burst and Per.
type state struct {
	last    int64 // UnixNano when deficit was last refilled
	deficit int64
	day     int32 // UTC day (days since 1970-01-01) that used counts
	used    int32
}

// New returns a Limiter for cfg. It panics if cfg.Validate() fails; values
// from [ParseRate] and non-negative counts are always valid.
func New(cfg Config) *Limiter {
	if err := cfg.Validate(); err != nil {
		panic(err)
	}
	l := &Limiter{
		conc:     cfg.UserConcurrency,
		quota:    cfg.DailyQuota,
		admins:   set(cfg.Admins),
		channels: set(cfg.AllowedChannels),
		inFlight: map[string]int{},
	}
	if cfg.Burst > 0 {
		l.burst, l.per = int64(cfg.Burst), int64(cfg.Per)
	}
	if l.burst > 0 || l.quota > 0 {
		l.states = cache.New(cache.NoExpiration, janitorEvery)
	}
	return l
}

func set(ss []string) map[string]struct{} {
	m := make(map[string]struct{}, len(ss))
	for _, s := range ss {
		m[s] = struct{}{}
	}
	return m
}

// Ticket is one admitted job's hold on its user's limits: a concurrency
// slot, a token and a unit of the day's quota (each only if that limit is
// configured and the user is not exempt). End it with [Ticket.Done].
type Ticket struct {
	l     *Limiter // nil: holds nothing
	user  string
	day   int32
	token bool
	unit  bool
	slot  bool
	done  bool // guarded by l.mu
}

// Done ends the job at now. The concurrency slot is always released.
// counted=false means the vendor never accepted the job (invalid input,
// vendor unavailable, cancelled before submission): the token and the
// day's unit are given back. counted=true means the vendor ran the job or
// refused it for safety, and both stay spent. A unit taken on an earlier
// UTC day is not given back to today. Done is idempotent: calls after the
// first do nothing. It is safe on a nil Ticket and for concurrent use.
func (t *Ticket) Done(counted bool, now time.Time) {
	if t == nil || t.l == nil {
		return
	}
	t.l.done(t, counted, now)
}

// Admit decides whether user may start one job in channel at now. Checks run
// in this order and the first that fails is returned as a [*Refusal]:
// channel (applies to admins too), daily quota, concurrency, rate. A
// refusal consumes nothing. On success the [Ticket] holds one concurrency
// slot, one token and one unit of the day's quota; call Done on it when the
// job ends. Admins get a Ticket that holds nothing.
func (l *Limiter) Admit(user, channel string, now time.Time) (*Ticket, error) {
	if len(l.channels) > 0 {
		if _, ok := l.channels[channel]; !ok {
			return nil, &Refusal{Reason: ReasonChannel}
		}
	}
	if l.exempt(user) {
		return &Ticket{}, nil
	}
	if l.burst == 0 && l.quota == 0 && l.conc == 0 {
		return &Ticket{}, nil
	}
	ns := now.UnixNano()
	day := dayOf(ns)

	l.mu.Lock()
	defer l.mu.Unlock()
	var st *state
	if l.states != nil {
		st = l.get(user, ns)
	}
	if l.quota > 0 && st.usedOn(day) >= l.quota {
		return nil, &Refusal{Reason: ReasonDaily, Limit: l.quota, RetryAfter: time.Duration(midnightAfter(day) - ns)}
	}
	if l.conc > 0 && l.inFlight[user] >= l.conc {
		return nil, &Refusal{Reason: ReasonConcurrency, Limit: l.conc}
	}
	if l.burst > 0 {
		l.refill(st, ns)
		if over := st.deficit + l.per - l.burst*l.per; over > 0 {
			// Refilling burst units per nanosecond, the bucket has room for
			// one more token after ceil(over/burst) nanoseconds.
			return nil, &Refusal{Reason: ReasonRate, Limit: int(l.burst), Per: time.Duration(l.per), RetryAfter: time.Duration(ceilDiv(over, l.burst))}
		}
	}
	t := &Ticket{l: l, user: user, day: day}
	if l.burst > 0 {
		st.deficit += l.per
		t.token = true
	}
	if l.quota > 0 {
		st.use(day, 1)
		t.unit = true
	}
	if l.conc > 0 {
		l.inFlight[user]++
		t.slot = true
	}
	if st != nil {
		l.put(user, st, ns)
	}
	return t, nil
}

// Restore re-establishes a user's state after a restart; the job store calls
// it at start-up, before admitting new jobs, once per user with unfinished
// or counted jobs. inFlight is the number of the user's unfinished jobs and
// usedToday the number of finished, counted jobs in the UTC day containing
// now (not including the unfinished ones). Each unfinished job takes a
// concurrency slot and a unit of today's quota, held by the returned
// Ticket (len inFlight) that the resumed job must Done; the tickets hold no
// token, since buckets start full after a restart anyway. Restore adds to
// the state already there. Negative counts are treated as 0. An admin's
// tickets hold nothing.
func (l *Limiter) Restore(user string, inFlight, usedToday int, now time.Time) []*Ticket {
	inFlight, usedToday = max(inFlight, 0), max(usedToday, 0)
	ts := make([]*Ticket, inFlight)
	if l.exempt(user) || (l.conc == 0 && l.quota == 0) {
		for i := range ts {
			ts[i] = &Ticket{}
		}
		return ts
	}
	ns := now.UnixNano()
	day := dayOf(ns)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range ts {
		ts[i] = &Ticket{l: l, user: user, day: day, slot: l.conc > 0, unit: l.quota > 0}
	}
	if l.conc > 0 && inFlight > 0 {
		l.inFlight[user] += inFlight
	}
	if l.quota > 0 && inFlight+usedToday > 0 {
		st := l.get(user, ns)
		st.use(day, inFlight+usedToday)
		l.put(user, st, ns)
	}
	return ts
}

// Usage is a user's standing at one moment, for a "how many can I make"
// reply. Fields for limits that are not configured are 0.
type Usage struct {
	Exempt    bool // an admin: no user limit applies
	InFlight  int  // jobs holding a concurrency slot
	UsedToday int  // jobs counted against the current UTC day's quota
	// Tokens is how many jobs the bucket would admit right now, and
	// NextToken how long until it holds one more (0 when full).
	Tokens    int
	NextToken time.Duration
}

// Usage reports user's standing at now without changing it.
func (l *Limiter) Usage(user string, now time.Time) Usage {
	if l.exempt(user) {
		return Usage{Exempt: true}
	}
	ns := now.UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	u := Usage{InFlight: l.inFlight[user]}
	if l.states == nil {
		return u
	}
	st := *l.get(user, ns) // a copy: reporting must not move last
	if l.quota > 0 {
		u.UsedToday = st.usedOn(dayOf(ns))
	}
	if l.burst > 0 {
		l.refill(&st, ns)
		room := l.burst*l.per - st.deficit
		u.Tokens = int(room / l.per)
		if r := room % l.per; st.deficit > 0 {
			u.NextToken = time.Duration(ceilDiv(l.per-r, l.burst))
		}
	}
	return u
}

func (l *Limiter) exempt(user string) bool {
	_, ok := l.admins[user]
	return ok
}

// get returns user's state, or a fresh one (not yet stored) at ns. l.mu must
// be held.
func (l *Limiter) get(user string, ns int64) *state {
	if v, ok := l.states.Get(user); ok {
		return v.(*state)
	}
	return &state{last: ns}
}

// put stores st with an expiry at the moment it would equal a fresh state,
// or deletes it if that moment has passed. go-cache measures expiry on the
// wall clock; the duration is taken from the caller's clock. l.mu must be
// held.
func (l *Limiter) put(user string, st *state, ns int64) {
	var until int64
	if st.deficit > 0 {
		until = st.last + ceilDiv(st.deficit, l.burst)
	}
	if st.used > 0 {
		until = max(until, midnightAfter(st.day))
	}
	if until <= ns {
		l.states.Delete(user)
		return
	}
	l.states.Set(user, st, time.Duration(until-ns))
}

// refill brings st's bucket forward to ns. Time going backwards refills
// nothing.
func (l *Limiter) refill(st *state, ns int64) {
	elapsed := ns - st.last
	if elapsed <= 0 {
		return
	}
	st.last = ns
	if elapsed >= l.per { // a full refill; also keeps elapsed*burst in range
		st.deficit = 0
		return
	}
	st.deficit = max(st.deficit-elapsed*l.burst, 0)
}

func (l *Limiter) done(t *Ticket, counted bool, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.done {
		return
	}
	t.done = true
	if t.slot {
		if n := l.inFlight[t.user] - 1; n > 0 {
			l.inFlight[t.user] = n
		} else {
			delete(l.inFlight, t.user)
		}
	}
	if counted || !(t.token || t.unit) {
		return
	}
	v, ok := l.states.Get(t.user)
	if !ok {
		return // full bucket and nothing used today: nothing to give back
	}
	st, ns := v.(*state), now.UnixNano()
	if t.token {
		l.refill(st, ns)
		st.deficit = max(st.deficit-l.per, 0)
	}
	if t.unit && st.day == t.day && st.used > 0 {
		st.used--
	}
	l.put(t.user, st, ns)
}

func (st *state) usedOn(day int32) int {
	if st.day != day {
		return 0
	}
	return int(st.used)
}

func (st *state) use(day int32, n int) {
	if st.day != day {
		st.day, st.used = day, 0
	}
	st.used = int32(min(int64(st.used)+int64(n), math.MaxInt32))
}

// dayOf is the UTC day number of a UnixNano time.
func dayOf(ns int64) int32 {
	d := ns / dayNanos
	if ns < 0 && ns%dayNanos != 0 {
		d--
	}
	return int32(d)
}

// midnightAfter is the UnixNano time at which day ends.
func midnightAfter(day int32) int64 { return (int64(day) + 1) * dayNanos }

func ceilDiv(a, b int64) int64 { return (a + b - 1) / b }

// String summarises the configuration for logs, e.g.
// "rate=5/10m0s concurrency=2 daily=50 admins=1 channels=all".
func (l *Limiter) String() string {
	ch := "all"
	if len(l.channels) > 0 {
		ch = fmt.Sprint(len(l.channels))
	}
	return fmt.Sprintf("rate=%s concurrency=%d daily=%d admins=%d channels=%s",
		FormatRate(int(l.burst), time.Duration(l.per)), l.conc, l.quota, len(l.admins), ch)
}
