package slack_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/fluxbot/fluxbot/internal/fakeslack"
	"github.com/fluxbot/fluxbot/jobs"
)

func openBolt(t *testing.T, dir string) *jobs.BoltStore {
	t.Helper()
	s, err := jobs.OpenBolt(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rewind puts a delivered job back to Delivering with one delivery attempt
// made and note as its delivery note, as if the bot had been killed in the
// middle of that delivery.
func rewind(t *testing.T, s jobs.Store, id string, note map[string]string) {
	t.Helper()
	j, err := s.Get(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	j.State, j.Attempts, j.FinishedAt = jobs.Delivering, 1, time.Time{}
	if note != nil {
		j.Delivery, _ = json.Marshal(note)
	}
	if err := s.Update(context.Background(), j); err != nil {
		t.Fatal(err)
	}
}

func waitState(t *testing.T, s jobs.Store, id string, want jobs.State) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		j, err := s.Get(context.Background(), id)
		if err == nil && j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s did not reach %s (last: %+v, %v)", id, want, j, err)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// TestRestartDeliversExactlyOnce kills the bot in the middle of deliveries
// and checks that the next start posts each result exactly once, and that
// an event seen before the restart still starts no second job.
func TestRestartDeliversExactlyOnce(t *testing.T) {
	dir := t.TempDir()
	store := openBolt(t, dir)
	h1 := newHarness(t, options{store: store})
	f := h1.f

	// Job A is posted completely; the bot "dies" before recording that.
	h1.deliver(f.SlashCommand(general, alice, "/imagine", "job a"))
	cardA := h1.result(general, nil)
	jobA := h1.jobOf(cardA)
	// Job B dies after files.getUploadURLExternal and the upload, before
	// files.completeUploadExternal went through.
	f.FailNext("files.completeUploadExternal", "internal_error")
	mention := f.AppMention(fakeslack.UserPost{Channel: general, User: bob, Text: "job b"})
	h1.deliver(mention)
	if err := f.Await(h1.ctx(10*time.Second), func() bool {
		c := f.Calls("files.completeUploadExternal")
		return len(c) == 2 && c[1].Error == "internal_error"
	}); err != nil {
		t.Fatal(err)
	}
	h1.stop() // within the Manager's 2 s wait before its next delivery attempt
	h1.idle()
	var jobB *jobs.Job
	for _, j := range mustUnfinished(t, store) {
		jobB = j
	}
	if jobB == nil || jobB.State != jobs.Delivering || jobB.Attempts != 1 {
		t.Fatalf("job B after the kill = %+v", jobB)
	}
	var noteB map[string]string
	_ = json.Unmarshal(jobB.Delivery, &noteB)
	if noteB["file_id"] == "" {
		t.Fatalf("job B's delivery note %s has no file id", jobB.Delivery)
	}
	rewind(t, store, jobA.ID, nil)
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}
	uploadsBefore := f.CallCount("files.getUploadURLExternal")

	store2 := openBolt(t, dir)
	t.Cleanup(func() { store2.Close() })
	h2 := newHarness(t, options{store: store2, server: f, vendorIn: h1.vendor})
	waitState(t, store2, jobA.ID, jobs.Delivered)
	waitState(t, store2, jobB.ID, jobs.Delivered)
	h2.idle()

	if got := f.CallCount("files.getUploadURLExternal") - uploadsBefore; got != 1 {
		t.Errorf("uploads after the restart = %d, want 1 (job B only)", got)
	}
	if n := f.CallCount("files.info"); n < 2 {
		t.Errorf("files.info calls = %d, want a check for each repeated delivery", n)
	}
	cards := h2.results(general)
	if len(cards) != 2 {
		t.Fatalf("result cards = %d, want 2 (one per job): %+v", len(cards), cards)
	}
	if got := h2.jobOf(cards[1]).ID; got != jobB.ID || cards[1].ThreadTS != mention.Message.TS {
		t.Errorf("second card is job %s in thread %q, want job B in the mention's thread", got, cards[1].ThreadTS)
	}
	if file, ok := f.File(noteB["file_id"]); !ok || file.Completed || len(file.Channels) != 0 {
		t.Errorf("the interrupted upload %+v was shared", file)
	}

	// The mention is delivered again after the restart (a fresh in-memory
	// window): the stored dedupe key stops it.
	h2.deliver(mention)
	out := h2.waitSubmits(func(o []error) bool { return count(o, jobs.ErrDuplicate) == 1 })
	if count(out, nil) != 0 {
		t.Errorf("Submit outcomes after the restart = %v, want only the duplicate", out)
	}
	if n := len(h2.vendor.Submits()); n != 2 {
		t.Errorf("vendor submits = %d, want 2", n)
	}
}

func mustUnfinished(t *testing.T, s jobs.Store) []*jobs.Job {
	t.Helper()
	js, err := s.Unfinished(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return js
}
