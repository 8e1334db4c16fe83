package web

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

// MaxCallbackBody bounds a vendor callback body.
const MaxCallbackBody = 1 << 20

// jobSource is what Callbacks needs of the pipeline.
type jobSource interface {
	Get(ctx context.Context, id string) (*jobs.Job, error)
	Poke(vendor, taskID string) bool
}

// Callbacks receives vendor callbacks at
// /callbacks/{vendor}/{job}/{token}. The token is an HMAC of the vendor and
// job id under a key only the bot knows, so the URL is unguessable per job.
// A callback is only a hint: it makes the waiting job poll the vendor at
// once, and nothing is delivered that the vendor's status endpoint does not
// confirm. So a forged or replayed callback changes nothing.
type Callbacks struct {
	// PublicURL is the bot's public base URL (no trailing slash).
	PublicURL string
	// Key signs the per-job tokens (32 random bytes, kept across restarts).
	Key     []byte
	Vendors map[string]imaging.CallbackVendor
	Jobs    jobSource
	Metrics *Metrics
	Log     *slog.Logger
	Now     func() time.Time
}

func (c *Callbacks) token(vendor, job string) string {
	mac := hmac.New(sha256.New, c.Key)
	mac.Write([]byte(vendor + "/" + job))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// URL is the callback URL for a job, or "" when its vendor takes none or
// PUBLIC_URL is not https (the vendors deliver callbacks over https only,
// and PoYo refuses a submit whose callback_url is not https).
func (c *Callbacks) URL(j *jobs.Job) string {
	if _, ok := c.Vendors[j.Vendor]; !ok || !strings.HasPrefix(c.PublicURL, "https://") {
		return ""
	}
	return c.PublicURL + "/callbacks/" + j.Vendor + "/" + j.ID + "/" + c.token(j.Vendor, j.ID)
}

func (c *Callbacks) count(vendor, result string) {
	if c.Metrics != nil {
		c.Metrics.Callback(vendor, result)
	}
}

func (c *Callbacks) log() *slog.Logger {
	if c.Log != nil {
		return c.Log
	}
	return slog.Default()
}

// ServeHTTP handles POST /callbacks/{vendor}/{job}/{token}.
func (c *Callbacks) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/callbacks/"), "/")
	if len(parts) != 3 {
		http.NotFound(w, r)
		return
	}
	vendorName, jobID, tok := parts[0], parts[1], parts[2]
	v, ok := c.Vendors[vendorName]
	if !ok {
		c.count("unknown", "bad_token") // a fixed label: paths are attacker-chosen
		http.NotFound(w, r)
		return
	}
	if !hmac.Equal([]byte(tok), []byte(c.token(vendorName, jobID))) {
		c.count(vendorName, "bad_token")
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxCallbackBody))
	if err != nil {
		c.count(vendorName, "too_large")
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	taskID, err := v.CallbackTaskID(r.Header, body, now())
	if err != nil {
		// ToAPIs' endpoint.test and similar probes carry no task: accept
		// them so the vendor sees a working endpoint.
		if errors.Is(err, imaging.ErrNoTask) {
			c.count(vendorName, "test")
			w.WriteHeader(http.StatusOK)
			return
		}
		c.count(vendorName, "rejected")
		c.log().Warn("vendor callback rejected", "vendor", vendorName, "job", jobID, "err", err)
		http.Error(w, "invalid callback", http.StatusUnauthorized)
		return
	}
	j, err := c.Jobs.Get(r.Context(), jobID)
	if err != nil {
		if errors.Is(err, jobs.ErrNotFound) {
			c.count(vendorName, "unknown_job")
			http.NotFound(w, r)
			return
		}
		c.count(vendorName, "store_error")
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	if j.Vendor != vendorName || (j.TaskID != "" && j.TaskID != taskID) {
		c.count(vendorName, "mismatch")
		c.log().Warn("vendor callback for another task", "vendor", vendorName, "job", jobID)
		http.Error(w, "task does not match", http.StatusUnauthorized)
		return
	}
	// Acknowledge at once; the waiting job confirms by polling.
	if c.Jobs.Poke(vendorName, taskID) {
		c.count(vendorName, "accepted")
	} else {
		c.count(vendorName, "idle") // finished already, or not yet waiting
	}
	w.WriteHeader(http.StatusOK)
}
