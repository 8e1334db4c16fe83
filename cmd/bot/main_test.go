package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/joho/godotenv"

	"github.com/fluxbot/fluxbot/imaging/imagingtest"
)

func TestRunNoFrontEnd(t *testing.T) {
	t.Parallel()
	for _, args := range [][]string{nil, {"run"}} {
		t.Run(strings.Join(append([]string{"bot"}, args...), " "), func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := runBot(t, map[string]string{"POYO_API_KEY": "k"}, args...)
			if code != 2 {
				t.Errorf("exit %d, want 2", code)
			}
			if stdout != "" {
				t.Errorf("stdout = %q", stdout)
			}
			for _, w := range []string{"bot: ", "DISCORD_BOT_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET", "bot imagine"} {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr)
				}
			}
		})
	}
}

// TestRunNothingConfigured: with an empty environment `bot` has two
// problems, no vendor key and no chat front end; all are to be reported at
// once.
func TestRunNothingConfigured(t *testing.T) {
	t.Parallel()
	code, _, stderr := runBot(t, map[string]string{})
	if code == 0 {
		t.Fatalf("exit 0 with nothing configured")
	}
	if !strings.Contains(stderr, "POYO_API_KEY") {
		t.Errorf("stderr does not name the vendor keys:\n%s", stderr)
	}
	if !strings.Contains(stderr, "DISCORD_BOT_TOKEN") || !strings.Contains(stderr, "SLACK_BOT_TOKEN") {
		t.Errorf("stderr does not name the chat tokens:\n%s", stderr)
	}
}

func TestRunVersionHelpUnknown(t *testing.T) {
	t.Parallel()
	code, stdout, stderr := runBot(t, nil, "version")
	if code != 0 || stdout != "bot "+version+"\n" || stderr != "" {
		t.Errorf("version: exit %d, stdout %q, stderr %q; want 0, %q, \"\"", code, stdout, stderr, "bot "+version+"\n")
	}
	code, stdout, _ = runBot(t, nil, "--version")
	if code != 0 || !strings.HasPrefix(stdout, "bot ") {
		t.Errorf("--version: exit %d, stdout %q", code, stdout)
	}
	for _, h := range []string{"help", "-h", "--help"} {
		code, stdout, _ = runBot(t, nil, h)
		if code != 0 || stdout != usage {
			t.Errorf("%s: exit %d, stdout %q; want the usage", h, code, stdout)
		}
	}
	code, stdout, stderr = runBot(t, nil, "imagin", "a", "cat")
	if code != 2 {
		t.Errorf("unknown command: exit %d, want 2", code)
	}
	if stdout != "" || !strings.HasPrefix(stderr, `bot: unknown command "imagin"`) || !strings.Contains(stderr, "usage:") {
		t.Errorf("unknown command: stdout %q, stderr %q", stdout, stderr)
	}
}

// TestUsageListsImagineOptions keeps the usage text in step with the flag
// parser.
func TestUsageListsImagineOptions(t *testing.T) {
	t.Parallel()
	for _, f := range []string{"--vendor", "--model", "--ar", "--format", "--seed", "--upsample", "--safety", "--image", "-o FILE"} {
		if !strings.Contains(usage, f) {
			t.Errorf("usage lacks %s", f)
		}
	}
}

// unsetForTest unsets key for the rest of the test, restoring it after.
func unsetForTest(t *testing.T, key string) {
	t.Setenv(key, "")
	os.Unsetenv(key)
}

// TestDotEnv documents what main relies on: godotenv.Load() reads .env
// from the working directory without overriding the real environment, and
// a missing .env is an os.ErrNotExist, which main ignores.
func TestDotEnv(t *testing.T) {
	p := imagingtest.NewPoYo(t, imagingtest.WithImage(imagingtest.PNG(31)))
	dir := t.TempDir()
	t.Chdir(dir)

	if err := godotenv.Load(); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("godotenv.Load() without .env = %v, want an os.ErrNotExist", err)
	}

	keys := []string{"POYO_API_KEY", "POYO_BASE_URL", "IMAGING_POLL_DELAY", "IMAGING_POLL_INTERVAL", "FLUXBOT_TEST_QUOTED"}
	for _, k := range keys {
		unsetForTest(t, k)
	}
	dotenv := "# comment\n" +
		"POYO_API_KEY=from-dotenv\n" +
		"POYO_BASE_URL=" + p.URL + "\n" +
		"export IMAGING_POLL_DELAY=10ms\n" +
		"IMAGING_POLL_INTERVAL=10ms # trailing comment\n" +
		"FLUXBOT_TEST_QUOTED=\"a b\"\n"
	if err := os.WriteFile(filepath.Join(dir, ".env"), []byte(dotenv), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("POYO_API_KEY", "test-key") // the real environment wins

	if err := godotenv.Load(); err != nil {
		t.Fatalf("godotenv.Load: %v", err)
	}
	for k, want := range map[string]string{
		"POYO_API_KEY": "test-key", "POYO_BASE_URL": p.URL, "IMAGING_POLL_DELAY": "10ms",
		"IMAGING_POLL_INTERVAL": "10ms", "FLUXBOT_TEST_QUOTED": "a b",
	} {
		if got := os.Getenv(k); got != want {
			t.Errorf("after Load, %s = %q, want %q", k, got, want)
		}
	}

	// And run, given os.Getenv as main gives it, uses the merged result: the
	// fake accepts only the real environment's key.
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), []string{"imagine", "-o", "out.png", "a", "cat"}, os.Getenv, &stdout, &stderr)
	if code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if got, want := stdout.String(), "out.png\n"; got != want {
		t.Errorf("stdout = %q, want %q", got, want)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "out.png")); !bytes.Equal(got, imagingtest.PNG(31)) {
		t.Errorf("out.png differs from the fake's result")
	}
	if subs := p.Submits(); len(subs) != 1 || subs[0].Header.Get("Authorization") != "Bearer test-key" {
		t.Errorf("submits = %d, want 1 with the real environment's key", len(subs))
	}
}
