package discord

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	_ "image/gif" // decode GIF results before re-encoding
	"image/jpeg"
	_ "image/png" // decode PNG results before re-encoding
	"net/http"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/jobs"
)

// fitResult is the result as a file for Discord: as it came when it fits
// in limit bytes, else re-encoded as JPEG (quality 90, then lower) and
// then halved in size with a box filter until it fits. The name is
// "<short job id>.<ext>".
func fitResult(jobID string, r *imaging.Result, limit int64) (*upload, error) {
	ct := r.ContentType
	if ct == "" {
		ct = http.DetectContentType(r.Image)
	}
	name := jobs.ShortID(jobID)
	if int64(len(r.Image)) <= limit {
		return &upload{name: name + "." + extension(ct), contentType: ct, data: r.Image}, nil
	}
	data, err := shrink(r.Image, limit)
	if err != nil {
		return nil, err
	}
	return &upload{name: name + ".jpg", contentType: "image/jpeg", data: data}, nil
}

func extension(ct string) string {
	switch ct {
	case "image/jpeg":
		return "jpg"
	case "image/webp":
		return "webp"
	case "image/gif":
		return "gif"
	}
	return "png"
}

var errCannotFit = errors.New("discord: the image does not fit the upload limit")

// shrink re-encodes an image as a JPEG of at most limit bytes.
func shrink(data []byte, limit int64) ([]byte, error) {
	src, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("discord: decoding the result to shrink it: %w", err)
	}
	img := flatten(src)
	for _, q := range []int{90, 80, 70, 60} {
		out, err := encodeJPEG(img, q)
		if err != nil {
			return nil, err
		}
		if int64(len(out)) <= limit {
			return out, nil
		}
	}
	for img.Rect.Dx() > 1 && img.Rect.Dy() > 1 {
		img = halve(img)
		out, err := encodeJPEG(img, 85)
		if err != nil {
			return nil, err
		}
		if int64(len(out)) <= limit {
			return out, nil
		}
	}
	return nil, errCannotFit
}

func encodeJPEG(img image.Image, quality int) ([]byte, error) {
	var buf bytes.Buffer
	if err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: quality}); err != nil {
		return nil, fmt.Errorf("discord: encoding JPEG: %w", err)
	}
	return buf.Bytes(), nil
}

// flatten draws img over white (JPEG has no transparency) into a fresh
// RGBA at the origin.
func flatten(img image.Image) *image.RGBA {
	b := img.Bounds()
	out := image.NewRGBA(image.Rect(0, 0, b.Dx(), b.Dy()))
	draw.Draw(out, out.Rect, image.NewUniform(color.White), image.Point{}, draw.Src)
	draw.Draw(out, out.Rect, img, b.Min, draw.Over)
	return out
}

// halve scales img to half its width and height, each output pixel the
// mean of a 2×2 block (a box filter).
func halve(img *image.RGBA) *image.RGBA {
	w, h := img.Rect.Dx()/2, img.Rect.Dy()/2
	out := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		r0 := img.Pix[(2*y)*img.Stride:]
		r1 := img.Pix[(2*y+1)*img.Stride:]
		o := out.Pix[y*out.Stride:]
		for x := range w {
			i := 8 * x
			for c := range 4 {
				sum := int(r0[i+c]) + int(r0[i+4+c]) + int(r1[i+c]) + int(r1[i+4+c])
				o[4*x+c] = uint8((sum + 2) / 4)
			}
		}
	}
	return out
}
