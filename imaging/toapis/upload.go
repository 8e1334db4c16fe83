package toapis

import (
	"context"
	"net/http"
	"strings"

	"github.com/fluxbot/fluxbot/imaging"
	"github.com/fluxbot/fluxbot/imaging/internal/vendorhttp"
)

// maxUploadBytes is the documented upload limit, 10 MB.
const maxUploadBytes = 10 << 20

// uploadResponse is the documented answer of POST /v1/uploads/images.
type uploadResponse struct {
	Success bool   `json:"success"`
	Message string `json:"message"`
	Data    struct {
		ID       string `json:"id"`
		URL      string `json:"url"`
		MimeType string `json:"mime_type"`
		Size     int64  `json:"size"`
	} `json:"data"`
}

// upload sends image bytes to ToAPIs' upload API and returns the hosted
// URL. The purpose field is left out; its documented default, generation,
// is what we want. Uploads of the same bytes are safe to repeat.
//
// See https://toapis.com/docs/en/api-reference/uploads/images.
func (c *Client) upload(ctx context.Context, im imaging.Image) (string, error) {
	ct := strings.ToLower(strings.TrimSpace(im.ContentType))
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = strings.TrimSpace(ct[:i])
	}
	if !uploadType(ct) {
		ct = http.DetectContentType(im.Data)
	}
	if !uploadType(ct) {
		return "", &imaging.Error{Kind: imaging.KindImageUnreachable, Vendor: displayName,
			Message: "unsupported image type " + ct + "; ToAPIs accepts JPEG, PNG, WebP and GIF"}
	}
	body, mpType, err := vendorhttp.Multipart("file", "image"+vendorhttp.Extension(ct), ct, im.Data, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.api.Do(ctx, vendorhttp.Call{
		Method:      http.MethodPost,
		Path:        "/v1/uploads/images",
		Body:        body,
		ContentType: mpType,
		Idempotent:  true,
	})
	if err != nil {
		return "", err
	}
	var ur uploadResponse
	if err := resp.Decode(displayName, &ur); err != nil {
		return "", err
	}
	if !ur.Success {
		// A refusal in a 2xx body: the same {success:false, message}
		// shape the classifier reads on error statuses.
		e := classify(http.StatusBadRequest, resp.Body, resp.Header)
		e.Vendor, e.HTTPStatus = displayName, resp.Status
		if e.Message == "" {
			e.Kind, e.Message = imaging.KindUnknown, "upload refused without a message"
		}
		return "", e
	}
	if ur.Data.URL == "" {
		return "", &imaging.Error{Kind: imaging.KindUnavailable, Vendor: displayName, HTTPStatus: resp.Status,
			Message: "upload response has no url"}
	}
	return ur.Data.URL, nil
}

// uploadType reports the documented upload types: JPEG, PNG, WebP, GIF.
func uploadType(ct string) bool {
	switch ct {
	case "image/jpeg", "image/png", "image/webp", "image/gif":
		return true
	}
	return false
}
