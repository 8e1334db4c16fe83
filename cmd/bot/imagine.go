package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"

	"github.com/fluxbot/fluxbot/imaging"
)

// maxLocalImage bounds a reference image read from disk.
const maxLocalImage = 20 << 20

// imagine runs one generation from the terminal: the operator's check that
// keys and settings work, with no chat platform involved.
func imagine(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	out, text, files, err := splitImagineArgs(args)
	if err != nil {
		return err
	}
	f, err := imaging.ParseFlags(text)
	if err != nil {
		return usageError{imaging.UserMessage(err)}
	}
	if strings.TrimSpace(f.Prompt) == "" {
		return usageError{"imagine needs a prompt, e.g. bot imagine a lighthouse at dawn --ar 16:9\n" + usage}
	}
	cfg, err := loadConfig(getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	svc, err := newService(cfg)
	if err != nil {
		return err
	}
	var req imaging.Request
	f.Apply(&req)
	for _, path := range files {
		im, err := readLocalImage(path)
		if err != nil {
			return usageError{err.Error()}
		}
		req.Images = append(req.Images, im)
	}
	vendor := f.Vendor
	if vendor == "" {
		vendor = svc.Default()
	}
	if _, _, err := svc.Prepare(vendor, &req); err != nil {
		return describe(err)
	}
	fmt.Fprintf(stderr, "submitting to %s…\n", vendor)
	task, err := svc.Submit(ctx, vendor, &req)
	if err != nil {
		return describe(err)
	}
	fmt.Fprintf(stderr, "task %s accepted\n", task.ID)
	res, err := svc.Wait(ctx, task, imaging.WaitOptions{Progress: func(p imaging.Progress) {
		fmt.Fprintf(stderr, "%s\n", p)
	}})
	if err != nil {
		return describe(err)
	}
	if out == "" {
		out = safeName(task.Vendor+"-"+task.ID) + extension(res.ContentType)
	}
	if err := os.WriteFile(out, res.Image, 0o644); err != nil {
		return fmt.Errorf("writing the image: %w", err)
	}
	detail := fmt.Sprintf("done in %s, %d status polls", imaging.HumanDuration(res.Elapsed()), res.Polls)
	if res.Seed != nil {
		detail += fmt.Sprintf(", seed %d", *res.Seed)
	}
	if res.Cost != nil {
		detail += ", cost " + res.Cost.String()
	}
	fmt.Fprintln(stderr, detail)
	fmt.Fprintln(stdout, out)
	return nil
}

// splitImagineArgs takes -o/--output out of args, and --image values that
// name local files (they are read here, never by the vendor), and joins the
// rest into the text the shared flag parser reads.
func splitImagineArgs(args []string) (out, text string, files []string, err error) {
	var rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-o" || a == "--output" || a == "-output":
			if i+1 >= len(args) {
				return "", "", nil, usageError{"-o needs a file name"}
			}
			i++
			out = args[i]
		case strings.HasPrefix(a, "-o=") || strings.HasPrefix(a, "--output="):
			out = a[strings.IndexByte(a, '=')+1:]
		case (a == "--image" || a == "--img") && i+1 < len(args) && !isURL(args[i+1]):
			i++
			files = append(files, args[i])
		default:
			rest = append(rest, a)
		}
	}
	return out, strings.Join(rest, " "), files, nil
}

func isURL(s string) bool { return strings.HasPrefix(s, "https://") || strings.HasPrefix(s, "http://") }

func readLocalImage(path string) (imaging.Image, error) {
	fh, err := os.Open(path)
	if err != nil {
		return imaging.Image{}, fmt.Errorf("--image %s: %w", path, err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxLocalImage+1))
	if err != nil {
		return imaging.Image{}, fmt.Errorf("--image %s: %w", path, err)
	}
	if len(data) > maxLocalImage {
		return imaging.Image{}, fmt.Errorf("--image %s is over 20 MB", path)
	}
	ct := http.DetectContentType(data)
	switch ct {
	case "image/png", "image/jpeg", "image/webp", "image/gif":
	default:
		return imaging.Image{}, fmt.Errorf("--image %s is not a PNG, JPEG, WebP or GIF image (%s)", path, ct)
	}
	return imaging.Image{Data: data, ContentType: ct}, nil
}

// describe gives the operator the user message plus the detail behind it.
func describe(err error) error {
	msg := imaging.UserMessage(err)
	if e, ok := errors.AsType[*imaging.Error](err); ok && e.Kind != imaging.KindInvalid && e.Kind != imaging.KindUnsupported {
		return fmt.Errorf("%s (%v)", msg, e)
	}
	return errors.New(msg)
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return '_'
	}, filepath.Base(s))
}

func extension(contentType string) string {
	switch contentType {
	case "image/jpeg":
		return ".jpg"
	case "image/webp":
		return ".webp"
	}
	return ".png"
}
