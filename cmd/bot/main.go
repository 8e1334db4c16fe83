// Command bot runs the Flux Kontext image bot for Discord and Slack, and
// offers `bot imagine` to make one image from the terminal with the same
// configuration.
//
// Usage:
//
//	bot [run]                 start the configured chat front ends
//	bot imagine [flags] PROMPT…  make one image and write it to a file
//	bot version               print the version
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/joho/godotenv"
)

var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// A .env file in the working directory fills in what the real
	// environment leaves unset; the real environment wins.
	if err := godotenv.Load(); err != nil && !errors.Is(err, os.ErrNotExist) {
		fmt.Fprintf(os.Stderr, "bot: reading .env: %v\n", err)
		os.Exit(2)
	}
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

// usageError is a command-line mistake: exit code 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// run is the whole program behind main, with its inputs passed in so tests
// can drive it. It returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	var err error
	switch cmd {
	case "run":
		err = serve(ctx, getenv, stderr)
	case "imagine":
		err = imagine(ctx, args, getenv, stdout, stderr)
	case "version", "--version":
		fmt.Fprintln(stdout, "bot", version)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		err = usageError{fmt.Sprintf("unknown command %q\n%s", cmd, usage)}
	}
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "bot: %v\n", err)
	if _, ok := errors.AsType[usageError](err); ok {
		return 2
	}
	return 1
}

const usage = `usage:
  bot [run]                        start the configured chat front ends (Discord, Slack)
  bot imagine [flags] PROMPT...    make one image from the terminal and write it to a file
      --vendor NAME   poyo | toapis | apixo | vtrix (default: IMAGING_VENDOR)
      --model M       pro | max
      --ar W:H        aspect ratio, e.g. 16:9
      --format F      png | jpeg
      --seed N        fixed seed (vendors that support it)
      --upsample      let the vendor expand the prompt
      --safety N      safety tolerance in the vendor's range
      --image URL     reference image to edit (repeatable); a local file path works too
      -o FILE         where to write the image (default: <vendor>-<task>.<ext> here)
  bot version
Configuration comes from the environment and a .env file; see README.md.
`

// newLogger builds the process logger from LOG_LEVEL and LOG_FORMAT.
func newLogger(c *Config, w io.Writer) *slog.Logger {
	lvl := slog.LevelInfo
	switch c.LogLevel {
	case "debug":
		lvl = slog.LevelDebug
	case "warn":
		lvl = slog.LevelWarn
	case "error":
		lvl = slog.LevelError
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
