package jobs_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/imagingtest"
	"github.com/fluxbot/fluxbot/jobs"
)

func create(t testing.TB, s jobs.Store, js ...*jobs.Job) {
	t.Helper()
	for _, j := range js {
		if err := s.Create(context.Background(), j); err != nil {
			t.Fatalf("Create(%s): %v", j.ID, err)
		}
	}
}

func ids(js []*jobs.Job) []string {
	out := make([]string, len(js))
	for i, j := range js {
		out[i] = j.ID
	}
	return out
}

func unfinishedIDs(t testing.TB, s jobs.Store) []string {
	t.Helper()
	open, err := s.Unfinished(context.Background())
	if err != nil {
		t.Fatalf("Unfinished: %v", err)
	}
	return ids(open)
}

func TestStoreReferenceImages(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		s := open(t)
		ctx := context.Background()
		img := imagingtest.PNG(3)
		j := storedJob("edit", "u1", jobs.Pending, time.Now())
		j.Request.Images = []imaging.Image{
			{Data: slices.Clone(img), ContentType: "image/png"},
			{URL: "https://cdn.example.com/ref.png"},
		}
		create(t, s, j)
		j.Request.Images[0].Data[0] ^= 0xff // the caller's slice is not the stored one

		got := mustGet(t, s, "edit")
		if len(got.Request.Images) != 2 {
			t.Fatalf("images = %d, want 2", len(got.Request.Images))
		}
		if im := got.Request.Images[0]; !bytes.Equal(im.Data, img) || im.ContentType != "image/png" || im.URL != "" {
			t.Errorf("image 0 = %d bytes %q %q; want the %d bytes created", len(im.Data), im.ContentType, im.URL, len(img))
		}
		if im := got.Request.Images[1]; im.URL != "https://cdn.example.com/ref.png" || im.Data != nil {
			t.Errorf("image 1 = %+v", im)
		}
		got.Request.Images[0].Data[0] ^= 0xff
		if again := mustGet(t, s, "edit"); !bytes.Equal(again.Request.Images[0].Data, img) {
			t.Error("changing a returned image changed the stored one")
		}

		// Update rewrites metadata only: without bytes, or with other bytes,
		// the stored image stays.
		u := mustGet(t, s, "edit")
		u.State, u.TaskID = jobs.Submitted, "fake-task-7"
		u.Request.Images[0].Data = nil
		if err := s.Update(ctx, u); err != nil {
			t.Fatal(err)
		}
		got = mustGet(t, s, "edit")
		if got.State != jobs.Submitted || got.TaskID != "fake-task-7" {
			t.Errorf("after Update: state %s task %q", got.State, got.TaskID)
		}
		if !bytes.Equal(got.Request.Images[0].Data, img) || got.Request.Images[0].ContentType != "image/png" {
			t.Errorf("Update without bytes lost the image: %d bytes", len(got.Request.Images[0].Data))
		}
		got.Request.Images[0].Data = imagingtest.PNG(4)
		if err := s.Update(ctx, got); err != nil {
			t.Fatal(err)
		}
		if again := mustGet(t, s, "edit"); !bytes.Equal(again.Request.Images[0].Data, img) {
			t.Error("Update rewrote the reference image bytes")
		}
	})
}

func TestStoreNotFoundAndDuplicate(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		s := open(t)
		ctx := context.Background()
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("Get unknown = %v", err)
		}
		if err := s.Update(ctx, storedJob("nope", "u", jobs.Submitted, time.Now())); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("Update unknown = %v", err)
		}
		if _, err := s.Get(ctx, "nope"); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("Update created the job: %v", err)
		}
		a := storedJob("a", "u", jobs.Pending, time.Now())
		a.DedupeKey = "evt"
		create(t, s, a)
		b := storedJob("b", "u", jobs.Pending, time.Now())
		b.DedupeKey = "evt"
		b.Request.Images = []imaging.Image{{Data: imagingtest.PNG(1), ContentType: "image/png"}}
		if err := s.Create(ctx, b); !errors.Is(err, jobs.ErrDuplicate) {
			t.Fatalf("Create with a used DedupeKey = %v, want ErrDuplicate", err)
		}
		if _, err := s.Get(ctx, "b"); !errors.Is(err, jobs.ErrNotFound) {
			t.Errorf("duplicate recorded: %v", err)
		}
		if got := unfinishedIDs(t, s); !slices.Equal(got, []string{"a"}) {
			t.Errorf("Unfinished = %v, want [a]", got)
		}
	})
}

func TestStoreUnfinishedOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		s := open(t)
		base := time.Now()
		create(t, s,
			storedJob("c", "u", jobs.Delivering, base.Add(3*time.Second)),
			storedJob("done", "u", jobs.Delivered, base),
			storedJob("a", "u", jobs.Pending, base.Add(time.Second)),
			storedJob("failed", "u", jobs.Failed, base),
			storedJob("b", "v", jobs.Submitted, base.Add(2*time.Second)),
			storedJob("z", "v", jobs.Submitting, base.Add(-time.Hour)),
		)
		if got := unfinishedIDs(t, s); !slices.Equal(got, []string{"z", "a", "b", "c"}) {
			t.Errorf("Unfinished = %v, want oldest first [z a b c]", got)
		}
		b := mustGet(t, s, "b")
		b.State = jobs.Delivered
		if err := s.Update(context.Background(), b); err != nil {
			t.Fatal(err)
		}
		if got := unfinishedIDs(t, s); !slices.Equal(got, []string{"z", "a", "c"}) {
			t.Errorf("after b finished: Unfinished = %v, want [z a c]", got)
		}
	})
}

func TestStoreUsageSince(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		s := open(t)
		since := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
		counted := func(j *jobs.Job) *jobs.Job { j.Counted = true; return j }
		create(t, s,
			counted(storedJob("u1", "u", jobs.Delivered, since)), // at the cutoff: counts
			counted(storedJob("u2", "u", jobs.Failed, since.Add(time.Hour))),
			storedJob("u3", "u", jobs.Failed, since.Add(time.Hour)),                    // not counted
			counted(storedJob("u4", "u", jobs.Delivered, since.Add(-time.Nanosecond))), // before
			counted(storedJob("u5", "u", jobs.Submitted, since.Add(time.Hour))),        // unfinished
			counted(storedJob("v1", "v", jobs.Delivered, since.Add(2*time.Hour))),
			storedJob("w1", "w", jobs.Delivered, since.Add(2*time.Hour)),
		)
		got, err := s.UsageSince(context.Background(), since)
		if err != nil {
			t.Fatal(err)
		}
		if want := map[string]int{"discord:u": 2, "discord:v": 1}; !maps.Equal(got, want) {
			t.Errorf("UsageSince = %v, want %v", got, want)
		}
	})
}

func TestStorePrune(t *testing.T) {
	eachStore(t, func(t *testing.T, open func(testing.TB) jobs.Store) {
		s := open(t)
		if _, ok := s.(*jobs.MemStore); ok {
		}
		ctx := context.Background()
		now := time.Now()
		cutoff := now.Add(-24 * time.Hour)
		old := now.Add(-48 * time.Hour)
		withImage := func(j *jobs.Job) *jobs.Job {
			j.Request.Images = []imaging.Image{{Data: imagingtest.PNG(2), ContentType: "image/png"}}
			return j
		}
		withKey := func(j *jobs.Job, k string) *jobs.Job { j.DedupeKey = k; return j }
		create(t, s,
			withKey(withImage(storedJob("old-delivered", "u", jobs.Delivered, old)), "old-key"),
			withImage(storedJob("old-failed", "u", jobs.Failed, old)),
			withKey(withImage(storedJob("old-open", "u", jobs.Submitted, old)), "old-open-key"),
			withKey(withImage(storedJob("new-delivered", "u", jobs.Delivered, now.Add(-time.Hour))), "new-key"),
		)
		if err := s.Prune(ctx, cutoff); err != nil {
			t.Fatal(err)
		}
		for _, id := range []string{"old-delivered", "old-failed"} {
			if _, err := s.Get(ctx, id); !errors.Is(err, jobs.ErrNotFound) {
				t.Errorf("%s after Prune: Get = %v, want ErrNotFound", id, err)
			}
		}
		for _, id := range []string{"old-open", "new-delivered"} {
			if j := mustGet(t, s, id); len(j.Request.Images) != 1 || len(j.Request.Images[0].Data) == 0 {
				t.Errorf("%s lost its image", id)
			}
		}
		if got := unfinishedIDs(t, s); !slices.Equal(got, []string{"old-open"}) {
			t.Errorf("Unfinished = %v, want [old-open]", got)
		}
		// The pruned jobs' image bytes are gone: a job recorded again under
		// the same id, without bytes, does not pick them up.
		again := storedJob("old-delivered", "u", jobs.Pending, now)
		again.Request.Images = []imaging.Image{{ContentType: "image/png"}}
		create(t, s, again)
		if got := mustGet(t, s, "old-delivered"); got.Request.Images[0].Data != nil {
			t.Errorf("pruned job's image bytes survived: %d bytes", len(got.Request.Images[0].Data))
		}
		// Old dedupe keys are forgotten, recent ones kept.
		for _, tc := range []struct {
			key string
			dup bool
		}{{"old-key", false}, {"old-open-key", false}, {"new-key", true}} {
			err := s.Create(ctx, withKey(storedJob("dedupe-"+tc.key, "u", jobs.Pending, now), tc.key))
			if tc.dup != errors.Is(err, jobs.ErrDuplicate) || (!tc.dup && err != nil) {
				t.Errorf("Create with %s after Prune = %v, want duplicate %v", tc.key, err, tc.dup)
			}
		}
	})
}

func TestBoltStorePersists(t *testing.T) {
	dir := t.TempDir()
	s := openBolt(t, dir)
	j := storedJob("kept", "u", jobs.Submitted, time.Now())
	j.TaskID = "fake-task-3"
	j.DedupeKey = "evt-9"
	j.Request.Images = []imaging.Image{{Data: imagingtest.PNG(6), ContentType: "image/png"}}
	create(t, s, j)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openBolt(t, dir)
	got := mustGet(t, s, "kept")
	if got.TaskID != "fake-task-3" || got.State != jobs.Submitted || !bytes.Equal(got.Request.Images[0].Data, imagingtest.PNG(6)) || string(got.Target) != string(j.Target) {
		t.Errorf("after reopening: %+v", got)
	}
	if ids := unfinishedIDs(t, s); !slices.Equal(ids, []string{"kept"}) {
		t.Errorf("Unfinished = %v", ids)
	}
	if err := s.Create(context.Background(), func() *jobs.Job {
		d := storedJob("dup", "u", jobs.Pending, time.Now())
		d.DedupeKey = "evt-9"
		return d
	}()); !errors.Is(err, jobs.ErrDuplicate) {
		t.Errorf("dedupe key after reopening: %v", err)
	}
}
