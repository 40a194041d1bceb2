package web

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestHostAllowList checks the defence against DNS rebinding: a request
// under a host name the server does not know is refused with 421 and a
// message naming --allow-host; IP addresses, localhost and allowed names
// are answered.
func TestHostAllowList(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{AllowHosts: []string{"digits.example", "*.lan.example"}})
	for _, tc := range []struct {
		host string
		ok   bool
	}{
		{"127.0.0.1:8080", true},
		{"[::1]:8080", true},
		{"192.168.1.20", true},
		{"localhost:8080", true},
		{"LOCALHOST", true},
		{"app.localhost:1", true},
		{"digits.example", true},
		{"Digits.Example.:8080", true},
		{"box.lan.example", true},
		{"a.b.lan.example", true},
		{"", true},
		{"evil.example", false},
		{"evil.example:8080", false},
		{"lan.example", false},
		{"localhost.evil.example", false},
		{"digits.example.evil.example", false},
	} {
		r := httptest.NewRequest("GET", "/api/model", nil)
		r.Host = tc.host
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if got := w.Code == http.StatusOK; got != tc.ok {
			t.Errorf("Host %q: status %d, want allowed=%v", tc.host, w.Code, tc.ok)
		}
		if !tc.ok && (w.Code != http.StatusMisdirectedRequest || !strings.Contains(w.Body.String(), "--allow-host")) {
			t.Errorf("Host %q: %d %s, want 421 naming --allow-host", tc.host, w.Code, w.Body)
		}
	}
	if _, err := New(untrainedModel(t), Options{AllowHosts: []string{"http://x.example/"}}); err == nil {
		t.Error("New accepted an allowed host with a scheme")
	}
}

// TestModelInfoHasNoPaths checks that GET /api/model names the data set, not
// the directory it was read from on the server's disk.
func TestModelInfoHasNoPaths(t *testing.T) {
	m := untrainedModel(t)
	m.Info.Dataset = "/home/alice/secret/fashion-mnist"
	s := newTestServer(t, m, Options{})
	w := httptest.NewRecorder()
	s.ServeHTTP(w, httptest.NewRequest("GET", "/api/model", nil))
	var info ModelInfo
	if err := json.Unmarshal(w.Body.Bytes(), &info); err != nil {
		t.Fatal(err)
	}
	if info.Dataset != "fashion-mnist" || strings.Contains(w.Body.String(), "alice") {
		t.Errorf("/api/model: dataset %q in %s, want fashion-mnist and no path", info.Dataset, w.Body)
	}
}

// TestSlotTakenBeforeBody checks that a request waits for a slot before its
// body is read, so that the slots bound the memory of bodies in flight: with
// the only slot held, the server must not consume the body of a second
// request.
func TestSlotTakenBeforeBody(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{MaxConcurrent: 1})
	s.slots <- struct{}{} // the only slot is busy
	body := &countingReader{r: bytes.NewReader(encodePNG(t, drawDigit(200, strokesSeven)))}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	r := httptest.NewRequest("POST", "/api/predict", body).WithContext(ctx)
	r.Header.Set("Content-Type", "image/png")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503 after waiting for the slot", w.Code)
	}
	if body.n != 0 {
		t.Errorf("the server read %d bytes of the body before it had a slot", body.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestShutdownAnswersKeepAliveRequests is the shutdown race of issue 16: a
// keep-alive client sends its next request just as the server begins to
// shut down. The request must be answered (with Connection: close), not
// dropped with the idle connection.
func TestShutdownAnswersKeepAliveRequests(t *testing.T) {
	base, cancel, wait := startServe(t, newTestServer(t, untrainedModel(t), Options{}))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 10 * time.Second}
	url := base + "/api/predict"
	body := encodePNG(t, drawDigit(200, strokesSeven))
	post := func() (*http.Response, error) {
		resp, err := client.Post(url, "image/png", bytes.NewReader(body))
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		return resp, err
	}
	if resp, err := post(); err != nil || resp.StatusCode != 200 {
		t.Fatalf("first request: %v %v", resp, err)
	}
	cancel() // the shutdown begins; the client's connection is idle
	time.Sleep(20 * time.Millisecond)
	resp, err := post() // on the same keep-alive connection
	if err != nil {
		t.Fatalf("request sent on a keep-alive connection as the shutdown began: %v", err)
	}
	if resp.StatusCode != 200 || !resp.Close {
		t.Errorf("request during the shutdown: status %d, Connection: close %v; want 200 and close", resp.StatusCode, resp.Close)
	}
	wait()
}

// TestQueueTimeout checks that a request waiting too long for a slot is
// answered 503 with Retry-After, not held until the client gives up.
func TestQueueTimeout(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{MaxConcurrent: 1, QueueTimeout: 50 * time.Millisecond})
	s.slots <- struct{}{} // the only slot is busy
	r := httptest.NewRequest("POST", "/api/predict", bytes.NewReader(encodePNG(t, drawDigit(200, strokesSeven))))
	r.Header.Set("Content-Type", "image/png")
	w := httptest.NewRecorder()
	start := time.Now()
	s.ServeHTTP(w, r)
	if w.Code != http.StatusServiceUnavailable || w.Header().Get("Retry-After") == "" || !strings.Contains(w.Body.String(), "busy") {
		t.Errorf("status %d, Retry-After %q, %s; want 503 busy with Retry-After", w.Code, w.Header().Get("Retry-After"), w.Body)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("answered after %v", d)
	}
}
