package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
	"github.com/fluxbot/fluxbot/web"
)

// frontEnd is a chat platform adapter: it runs until ctx ends.
type frontEnd interface {
	Run(ctx context.Context) error
}

// errNoFrontEnd explains what to set when no chat platform is configured.
var errNoFrontEnd = errors.New(`no chat front end is configured. Set DISCORD_BOT_TOKEN for Discord, and/or SLACK_BOT_TOKEN with SLACK_APP_TOKEN (Socket Mode) or SLACK_SIGNING_SECRET (HTTP mode) for Slack. To try a vendor key without a chat platform, run: bot imagine a lighthouse at dawn`)

// shutdownGrace bounds the wait for in-flight work after SIGTERM.
const shutdownGrace = 8 * time.Second

// serve starts the configured chat front ends over one job pipeline and
// runs until ctx ends (SIGINT/SIGTERM), then shuts down within 10 seconds:
// it stops taking requests, lets acknowledgements finish and leaves every
// unfinished job recorded for the next start.
func serve(ctx context.Context, getenv func(string) string, stderr io.Writer) error {
	cfg, err := loadConfig(getenv)
	if err != nil {
		if getenv("DISCORD_BOT_TOKEN") == "" && getenv("SLACK_BOT_TOKEN") == "" {
			err = errors.Join(err, errNoFrontEnd)
		}
		return fmt.Errorf("configuration:\n%w", err)
	}
	if !cfg.DiscordEnabled() && !cfg.SlackEnabled() {
		return usageError{errNoFrontEnd.Error()}
	}
	log := newLogger(cfg, stderr)
	a, err := newApp(cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	return a.run(ctx)
}

// app is the wired bot.
type app struct {
	cfg       *Config
	log       *slog.Logger
	store     jobs.Store
	manager   *jobs.Manager
	frontEnds []frontEnd
	handler   *http.ServeMux
	listener  net.Listener
	metrics   *web.Metrics
	images    *web.ImageHost
	ready     []func() bool
}

func newApp(cfg *Config, log *slog.Logger) (*app, error) {
	svc, err := newService(cfg)
	if err != nil {
		return nil, err
	}
	store, err := jobs.OpenBolt(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	a := &app{cfg: cfg, log: log, store: store, handler: http.NewServeMux(), metrics: &web.Metrics{}}
	a.manager = &jobs.Manager{
		Service: svc, Store: store, Limiter: newLimiter(cfg),
		VendorConcurrency: cfg.VendorConc, Log: log, Metrics: a.metrics,
	}
	a.metrics.QueueLen, a.metrics.InFlight = a.manager.QueueLen, a.manager.InFlight
	if cfg.PublicURL != "" {
		key, err := loadKey(filepath.Join(cfg.DataDir, "callback.key"))
		if err != nil {
			store.Close()
			return nil, err
		}
		cb := &web.Callbacks{PublicURL: cfg.PublicURL, Key: key, Vendors: map[string]imaging.CallbackVendor{},
			Jobs: a.manager, Metrics: a.metrics, Log: log}
		for _, name := range svc.Vendors() {
			v, _ := svc.Vendor(name)
			if cv, ok := v.(imaging.CallbackVendor); ok && v.Capabilities().Callbacks {
				cb.Vendors[name] = cv
			}
		}
		a.manager.CallbackURL = cb.URL
		a.handler.Handle("/callbacks/", cb)
		a.images = &web.ImageHost{PublicURL: cfg.PublicURL}
		svc.Host = a.images
		a.handler.Handle("/images/", a.images)
	}
	if err := a.wire(); err != nil {
		store.Close()
		return nil, err
	}
	return a, nil
}

func (a *app) close() { a.store.Close() }

// run starts the pipeline, the HTTP server and the front ends, and stops
// them in order when ctx ends.
func (a *app) run(ctx context.Context) error {
	jobCtx, stopJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer stopJobs()
	if err := a.manager.Start(jobCtx); err != nil {
		return err
	}
	g, gctx := errgroup.WithContext(ctx)
	if a.images != nil {
		g.Go(func() error {
			t := time.NewTicker(time.Minute)
			defer t.Stop()
			for {
				select {
				case <-gctx.Done():
					return nil
				case <-t.C:
					a.images.Sweep()
				}
			}
		})
	}
	g.Go(func() error { // keep the store small: finished jobs older than 30 days go
		prune := func() {
			if err := a.store.Prune(gctx, time.Now().Add(-30*24*time.Hour)); err != nil {
				a.log.Warn("pruning old jobs", "err", err)
			}
		}
		prune()
		t := time.NewTicker(6 * time.Hour)
		defer t.Stop()
		for {
			select {
			case <-gctx.Done():
				return nil
			case <-t.C:
				prune()
			}
		}
	})
	if a.cfg.HTTPAddr != "" {
		srv := &http.Server{Addr: a.cfg.HTTPAddr, Handler: a.handler, ReadHeaderTimeout: 10 * time.Second}
		ln := a.listener
		if ln == nil {
			var err error
			if ln, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
				return fmt.Errorf("HTTP_ADDR: %w", err)
			}
		}
		a.log.Info("http server listening", "addr", ln.Addr().String())
		g.Go(func() error {
			if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
				return err
			}
			return nil
		})
		g.Go(func() error {
			<-gctx.Done()
			sctx, cancel := context.WithTimeout(context.WithoutCancel(gctx), 2*time.Second)
			defer cancel()
			return srv.Shutdown(sctx)
		})
	}
	for _, fe := range a.frontEnds {
		g.Go(func() error { return fe.Run(gctx) })
	}
	err := g.Wait()
	// Front ends have stopped taking requests; now stop the jobs, which
	// persist their state, and give them a bounded time to do so.
	stopJobs()
	done := make(chan struct{})
	go func() { a.manager.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(shutdownGrace):
		a.log.Warn("shutdown: some jobs were still stopping; they resume on the next start")
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return nil
}

// wire attaches the front ends and HTTP handlers the configuration asks for.
func (a *app) wire() error {
	a.handler.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		for _, ok := range a.ready {
			if !ok() {
				w.WriteHeader(http.StatusServiceUnavailable)
				_, _ = io.WriteString(w, "starting: a chat front end is not connected yet\n")
				return
			}
		}
		_, _ = io.WriteString(w, "ok\n")
	})
	a.handler.Handle("GET /metrics", a.metrics)
	return a.wireFrontEnds()
}

// loadKey reads a 32-byte secret from path, creating it on first start.
func loadKey(path string) ([]byte, error) {
	if b, err := os.ReadFile(path); err == nil && len(b) == 32 {
		return b, nil
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("writing %s: %w", path, err)
	}
	return b, nil
}
