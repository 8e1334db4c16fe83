package toapis

import (
	"errors"
	"testing"

	"github.com/fluxbot/fluxbot/imaging"
)

// Documented ToAPIs bodies (shared/vendors/vendors.md §2), verbatim.
var statusSeeds = []string{
	`{"id":"task_img_abc123def456","object":"generation.task","model":"flux-kontext-pro","status":"queued","progress":0,"created_at":1703884800,"metadata":{}}`,
	`{"id":"img_5b8b19afe5c24ab3a92df996f1a33931","object":"generation.task","model":"gemini-3-pro-image-preview","status":"in_progress","progress":50,"created_at":1768381010}`,
	`{"id":"img_5b8b19afe5c24ab3a92df996f1a33931","object":"generation.task","model":"gemini-3-pro-image-preview","status":"completed","progress":100,"created_at":1768381010,"completed_at":1768381063,"expires_at":1768467463,"result":{"type":"image","data":[{"url":"https://files.toapis.com/generated/1768381061_c55c1bbb.jpg"}]}}`,
	`{"id":"img_73c450923a9a43e4aabf426e1c681d64","object":"generation.task","model":"gemini-3-pro-image-preview","status":"failed","progress":0,"created_at":1768215312,"error":{"code":"generation_failed","message":"call upstream API failed: upstream returned status 422"}}`,
	`{"error":{"code":404,"message":"Task not found","type":"not_found_error"}}`,
	`{"error":{"code":401,"message":"Authentication failed, please check your API key","type":"authentication_error"}}`,
	`{"error":{"code":"rate_limit_exceeded","message":"Async task request rate exceeded"}}`,
	`{"error":{"code":"rate_limit_unavailable","message":"The async task submit limiter is temporarily unavailable"}}`,
	`{"success":false,"message":"Unsupported image type. Allowed: JPEG, PNG, WebP, GIF"}`,
	`{"status":"completed","url":"https://x/y.png","progress":"100%"}`,
	`{"status":"failed","error":"boom"}`,
	`{"status":"in_progress","progress":1e999}`,
}

var callbackSeeds = []string{
	`{"id":"evt_01abcdef","type":"generation.completed","api_version":"v1","created_at":1783953302,"data":{"task_id":"tsk_01abcdef","client_business_id":"order_123","task_type":"image","model":"model-name","status":"SUCCESS","progress":"100%","result":{"type":"image","data":[{"url":"https://cdn.example/result.png"}]},"error":null,"submitted_at":1783953000,"finished_at":1783953300}}`,
	`{"id":"evt_01failure","type":"generation.failed","api_version":"v1","created_at":1783953302,"data":{"task_id":"tsk_01failure","client_business_id":"order_456","task_type":"video","model":"model-name","status":"FAILURE","progress":"100%","result":null,"error":{"code":"generation_failed","message":"Generation failed after retries"},"submitted_at":1783953000,"finished_at":1783953300}}`,
	`{"id":"evt_01test","type":"endpoint.test","api_version":"v1","created_at":1783953302,"data":{"task_id":"endpoint_test","task_type":"image","status":"SUCCESS","progress":"100%","result":{"message":"ToAPIs webhook endpoint test"},"error":null,"submitted_at":0,"finished_at":0}}`,
	`{"data":null}`,
}

// FuzzStatusBody checks that the status parser and the error classifier
// never panic and keep Status's invariants on arbitrary bytes.
func FuzzStatusBody(f *testing.F) {
	for _, s := range statusSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, status := range []int{400, 401, 402, 404, 422, 429, 500, 503} {
			if e := classify(status, body, nil); e == nil {
				t.Fatalf("classify(%d) = nil", status)
			}
		}
		st, err := parseStatus(200, body)
		if err != nil {
			if _, ok := errors.AsType[*imaging.Error](err); !ok {
				t.Fatalf("error %v is not an *imaging.Error", err)
			}
			return
		}
		if st.Progress < -1 || st.Progress > 100 {
			t.Fatalf("Progress = %d", st.Progress)
		}
		switch st.State {
		case imaging.StateSucceeded:
			if len(st.URLs) == 0 {
				t.Fatal("succeeded without URLs")
			}
		case imaging.StateFailed:
			if _, ok := errors.AsType[*imaging.Error](st.Err); !ok {
				t.Fatalf("failed with Err %v", st.Err)
			}
		}
	})
}

// FuzzCallbackBody checks that the callback body parser never panics and
// returns either a task id or an error.
func FuzzCallbackBody(f *testing.F) {
	for _, s := range callbackSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := parseCallback(body)
		if (id == "") == (err == nil) {
			t.Fatalf("parseCallback = %q, %v", id, err)
		}
	})
}
