package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/fluxbot/fluxbot/imaging"
)

// Store persists jobs. Implementations are safe for concurrent use.
type Store interface {
	// Create records a new job. A DedupeKey seen before fails with
	// ErrDuplicate and records nothing.
	Create(ctx context.Context, j *Job) error
	// Seen reports whether a DedupeKey has been recorded.
	Seen(ctx context.Context, key string) (bool, error)
	// Update rewrites a job's metadata (not its reference image bytes).
	Update(ctx context.Context, j *Job) error
	// Get returns a job with its reference image bytes.
	Get(ctx context.Context, id string) (*Job, error)
	// Unfinished returns every job not yet delivered or failed, oldest
	// first.
	Unfinished(ctx context.Context) ([]*Job, error)
	// UsageSince counts, per user, the finished jobs that counted against
	// their limits and were created at or after since.
	UsageSince(ctx context.Context, since time.Time) (map[string]int, error)
	// Prune deletes finished jobs and dedupe keys older than before.
	Prune(ctx context.Context, before time.Time) error
	Close() error
}

// BoltStore is a Store in one bbolt file: pure Go (no cgo, so the binary
// stays static), one writer at a time with fsync on commit, which is what a
// chat bot's write rate needs. Reference image bytes live in their own
// bucket so metadata updates stay small.
type BoltStore struct{ db *bolt.DB }

var (
	bucketJobs   = []byte("jobs")
	bucketOpen   = []byte("open")
	bucketBlobs  = []byte("blobs")
	bucketDedupe = []byte("dedupe")
)

// OpenBolt opens (creating) the store at dir/jobs.db.
func OpenBolt(dir string) (*BoltStore, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("jobs: data dir: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "jobs.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("jobs: open store: %w", err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketJobs, bucketOpen, bucketBlobs, bucketDedupe} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("jobs: init store: %w", err)
	}
	return &BoltStore{db: db}, nil
}

// Close closes the file.
func (s *BoltStore) Close() error { return s.db.Close() }

// metaJSON encodes j without reference image bytes.
func metaJSON(j *Job) ([]byte, error) {
	c := *j
	c.Request.Images = make([]imaging.Image, len(j.Request.Images))
	for i, im := range j.Request.Images {
		c.Request.Images[i] = imaging.Image{URL: im.URL, ContentType: im.ContentType}
	}
	return json.Marshal(&c)
}

func blobKey(id string, i int) []byte { return []byte(id + "/" + strconv.Itoa(i)) }

// Create implements Store.
func (s *BoltStore) Create(_ context.Context, j *Job) error {
	meta, err := metaJSON(j)
	if err != nil {
		return err
	}
	// Batch coalesces concurrent writers into one fsync; fn only writes
	// inside its transaction, so being re-run is harmless.
	return s.db.Batch(func(tx *bolt.Tx) error {
		if j.DedupeKey != "" {
			d := tx.Bucket(bucketDedupe)
			if d.Get([]byte(j.DedupeKey)) != nil {
				return ErrDuplicate
			}
			v, _ := json.Marshal(dedupeEntry{ID: j.ID, At: j.CreatedAt})
			if err := d.Put([]byte(j.DedupeKey), v); err != nil {
				return err
			}
		}
		if err := tx.Bucket(bucketJobs).Put([]byte(j.ID), meta); err != nil {
			return err
		}
		for i, im := range j.Request.Images {
			if len(im.Data) > 0 {
				if err := tx.Bucket(bucketBlobs).Put(blobKey(j.ID, i), im.Data); err != nil {
					return err
				}
			}
		}
		if !j.State.Finished() {
			return tx.Bucket(bucketOpen).Put([]byte(j.ID), nil)
		}
		return nil
	})
}

type dedupeEntry struct {
	ID string    `json:"id"`
	At time.Time `json:"at"`
}

// Seen implements Store.
func (s *BoltStore) Seen(_ context.Context, key string) (bool, error) {
	seen := false
	err := s.db.View(func(tx *bolt.Tx) error {
		seen = tx.Bucket(bucketDedupe).Get([]byte(key)) != nil
		return nil
	})
	return seen, err
}

// Update implements Store.
func (s *BoltStore) Update(_ context.Context, j *Job) error {
	meta, err := metaJSON(j)
	if err != nil {
		return err
	}
	return s.db.Batch(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketJobs)
		if b.Get([]byte(j.ID)) == nil {
			return ErrNotFound
		}
		if err := b.Put([]byte(j.ID), meta); err != nil {
			return err
		}
		if j.State.Finished() {
			return tx.Bucket(bucketOpen).Delete([]byte(j.ID))
		}
		return tx.Bucket(bucketOpen).Put([]byte(j.ID), nil)
	})
}

func loadJob(tx *bolt.Tx, id []byte) (*Job, error) {
	v := tx.Bucket(bucketJobs).Get(id)
	if v == nil {
		return nil, ErrNotFound
	}
	j := new(Job)
	if err := json.Unmarshal(v, j); err != nil {
		return nil, fmt.Errorf("jobs: decode %s: %w", id, err)
	}
	for i := range j.Request.Images {
		if b := tx.Bucket(bucketBlobs).Get(blobKey(j.ID, i)); b != nil {
			j.Request.Images[i].Data = slices.Clone(b)
		}
	}
	return j, nil
}

// Get implements Store.
func (s *BoltStore) Get(_ context.Context, id string) (*Job, error) {
	var j *Job
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		j, err = loadJob(tx, []byte(id))
		return err
	})
	return j, err
}

// Unfinished implements Store.
func (s *BoltStore) Unfinished(_ context.Context) ([]*Job, error) {
	var out []*Job
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOpen).ForEach(func(k, _ []byte) error {
			j, err := loadJob(tx, k)
			if err != nil {
				return err
			}
			out = append(out, j)
			return nil
		})
	})
	slices.SortFunc(out, func(a, b *Job) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, err
}

// UsageSince implements Store. It scans all jobs: fine at start-up, which
// is the only caller, and Prune keeps the file small.
func (s *BoltStore) UsageSince(_ context.Context, since time.Time) (map[string]int, error) {
	n := map[string]int{}
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketJobs).ForEach(func(_, v []byte) error {
			var j struct {
				User      string    `json:"user"`
				CreatedAt time.Time `json:"created_at"`
				Counted   bool      `json:"counted"`
				State     State     `json:"state"`
			}
			if json.Unmarshal(v, &j) == nil && j.Counted && j.State.Finished() && !j.CreatedAt.Before(since) {
				n[j.User]++
			}
			return nil
		})
	})
	return n, err
}

// Prune implements Store.
func (s *BoltStore) Prune(_ context.Context, before time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		jobs, blobs := tx.Bucket(bucketJobs), tx.Bucket(bucketBlobs)
		var dead [][]byte
		err := jobs.ForEach(func(k, v []byte) error {
			var j struct {
				State     State     `json:"state"`
				CreatedAt time.Time `json:"created_at"`
			}
			if json.Unmarshal(v, &j) == nil && j.State.Finished() && j.CreatedAt.Before(before) {
				dead = append(dead, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range dead {
			if err := jobs.Delete(k); err != nil {
				return err
			}
			c := blobs.Cursor()
			prefix := append(slices.Clone(k), '/')
			for bk, _ := c.Seek(prefix); bk != nil && len(bk) >= len(prefix) && string(bk[:len(prefix)]) == string(prefix); bk, _ = c.Next() {
				if err := c.Delete(); err != nil {
					return err
				}
			}
		}
		d := tx.Bucket(bucketDedupe)
		var old [][]byte
		err = d.ForEach(func(k, v []byte) error {
			var e dedupeEntry
			if json.Unmarshal(v, &e) != nil || e.At.Before(before) {
				old = append(old, slices.Clone(k))
			}
			return nil
		})
		if err != nil {
			return err
		}
		for _, k := range old {
			if err := d.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// MemStore is an in-memory Store for tests and the terminal command.
type MemStore struct {
	mu     sync.Mutex
	jobs   map[string][]byte
	blobs  map[string][]byte
	dedupe map[string]time.Time
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{jobs: map[string][]byte{}, blobs: map[string][]byte{}, dedupe: map[string]time.Time{}}
}

// Create implements Store.
func (m *MemStore) Create(_ context.Context, j *Job) error {
	meta, err := metaJSON(j)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if j.DedupeKey != "" {
		if _, seen := m.dedupe[j.DedupeKey]; seen {
			return ErrDuplicate
		}
		m.dedupe[j.DedupeKey] = j.CreatedAt
	}
	m.jobs[j.ID] = meta
	for i, im := range j.Request.Images {
		if len(im.Data) > 0 {
			m.blobs[string(blobKey(j.ID, i))] = slices.Clone(im.Data)
		}
	}
	return nil
}

// Seen implements Store.
func (m *MemStore) Seen(_ context.Context, key string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	_, ok := m.dedupe[key]
	return ok, nil
}

// Update implements Store.
func (m *MemStore) Update(_ context.Context, j *Job) error {
	meta, err := metaJSON(j)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.jobs[j.ID]; !ok {
		return ErrNotFound
	}
	m.jobs[j.ID] = meta
	return nil
}

func (m *MemStore) load(id string) (*Job, error) {
	v, ok := m.jobs[id]
	if !ok {
		return nil, ErrNotFound
	}
	j := new(Job)
	if err := json.Unmarshal(v, j); err != nil {
		return nil, err
	}
	for i := range j.Request.Images {
		if b, ok := m.blobs[string(blobKey(id, i))]; ok {
			j.Request.Images[i].Data = slices.Clone(b)
		}
	}
	return j, nil
}

// Get implements Store.
func (m *MemStore) Get(_ context.Context, id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.load(id)
}

// Unfinished implements Store.
func (m *MemStore) Unfinished(_ context.Context) ([]*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []*Job
	for id := range m.jobs {
		j, err := m.load(id)
		if err != nil {
			return nil, err
		}
		if !j.State.Finished() {
			out = append(out, j)
		}
	}
	slices.SortFunc(out, func(a, b *Job) int { return a.CreatedAt.Compare(b.CreatedAt) })
	return out, nil
}

// UsageSince implements Store.
func (m *MemStore) UsageSince(_ context.Context, since time.Time) (map[string]int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := map[string]int{}
	for id := range m.jobs {
		j, err := m.load(id)
		if err != nil {
			return nil, err
		}
		if j.Counted && j.State.Finished() && !j.CreatedAt.Before(since) {
			n[j.User]++
		}
	}
	return n, nil
}

// Prune implements Store.
func (m *MemStore) Prune(_ context.Context, before time.Time) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for id := range m.jobs {
		j, err := m.load(id)
		if err != nil {
			return err
		}
		if j.State.Finished() && j.CreatedAt.Before(before) {
			delete(m.jobs, id)
			for i := range j.Request.Images {
				delete(m.blobs, string(blobKey(id, i)))
			}
		}
	}
	for k, at := range m.dedupe {
		if at.Before(before) {
			delete(m.dedupe, k)
		}
	}
	return nil
}

// Close implements Store.
func (m *MemStore) Close() error { return nil }
