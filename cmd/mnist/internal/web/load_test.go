package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestLoad sends a bounded burst of predictions to the real server on
// loopback from concurrent Go clients, as the page would (a canvas PNG per
// request), and requires every answer to be a 200 with the same prediction.
// It logs requests/s and latency percentiles; it asserts no timing.
func TestLoad(t *testing.T) {
	requests, concurrency := 2000, 32
	if raceEnabled {
		requests = 200 // the race detector makes each request ~10× slower
	}
	s := newTestServer(t, untrainedModel(t), Options{})
	url := serveLoopback(t, s) + "/api/predict"
	body := encodePNG(t, drawDigit(280, strokesSeven)) // what the page sends
	st := runLoad(t, url, body, requests, concurrency)
	if st.failures > 0 {
		t.Fatalf("%d of %d requests failed; first: %s", st.failures, requests, st.firstFailure)
	}
	t.Logf("%d requests, %d at a time, %d-byte PNG, GOMAXPROCS %d: %.0f requests/s; latency p50 %s, p99 %s, max %s",
		requests, concurrency, len(body), runtime.GOMAXPROCS(0), st.perSecond,
		st.p50.Round(10*time.Microsecond), st.p99.Round(10*time.Microsecond), st.max.Round(10*time.Microsecond))
	// One at a time: the round trip a person drawing sees, without queueing.
	one := runLoad(t, url, body, requests/10, 1)
	if one.failures > 0 {
		t.Fatalf("%d of %d sequential requests failed; first: %s", one.failures, requests/10, one.firstFailure)
	}
	t.Logf("%d requests one at a time: %.0f requests/s; latency p50 %s, p99 %s",
		requests/10, one.perSecond, one.p50.Round(10*time.Microsecond), one.p99.Round(10*time.Microsecond))
}

type loadStats struct {
	perSecond     float64
	p50, p99, max time.Duration
	failures      int
	firstFailure  string
}

// runLoad posts body to url n times, c at a time, over kept-alive connections.
func runLoad(t testing.TB, url string, body []byte, n, c int) loadStats {
	t.Helper()
	client := &http.Client{
		Transport: &http.Transport{MaxIdleConnsPerHost: c, MaxConnsPerHost: c},
		Timeout:   30 * time.Second,
	}
	defer client.CloseIdleConnections()
	var (
		next     atomic.Int64
		mu       sync.Mutex
		first    string
		failures int
		want     []byte
		wg       sync.WaitGroup
	)
	latencies := make([]time.Duration, n)
	fail := func(msg string) {
		mu.Lock()
		defer mu.Unlock()
		if failures == 0 {
			first = msg
		}
		failures++
	}
	start := time.Now()
	for range c {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				t0 := time.Now()
				resp, err := client.Post(url, "image/png", bytes.NewReader(body))
				if err != nil {
					fail(err.Error())
					continue
				}
				got, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				latencies[i] = time.Since(t0)
				if err != nil || resp.StatusCode != http.StatusOK {
					fail(fmt.Sprintf("status %d, %v: %s", resp.StatusCode, err, got))
					continue
				}
				mu.Lock()
				if want == nil {
					want = got
				} else if !bytes.Equal(got, want) {
					mu.Unlock()
					fail("answers to the same request differ")
					continue
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(n-1, int(p*float64(n)))] }
	return loadStats{
		perSecond: float64(n) / elapsed.Seconds(),
		p50:       pct(0.50), p99: pct(0.99), max: latencies[n-1],
		failures: failures, firstFailure: first,
	}
}

// BenchmarkPredict measures one prediction through the handler (no network),
// from the body to the JSON answer, for the page's canvas PNG and for JSON
// pixels, with as many concurrent requests as GOMAXPROCS.
func BenchmarkPredict(b *testing.B) {
	s := newTestServer(b, untrainedModel(b), Options{})
	for _, bc := range []struct {
		name, ctype string
		body        []byte
	}{
		{"png-280", "image/png", encodePNG(b, drawDigit(280, strokesSeven))},
		{"png-560", "image/png", encodePNG(b, drawDigit(560, strokesSeven))},
		{"json-784", "application/json", mustJSON(b, PixelsRequest{Pixels: seven28(b)})},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if rec := do(s, "POST", "/api/predict", bc.ctype, bc.body); rec.Code != 200 {
						b.Fatalf("status %d: %s", rec.Code, rec.Body)
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "requests/s")
		})
	}
}

// BenchmarkLoopback measures the whole round trip over loopback HTTP with
// 32 concurrent clients, as TestLoad does.
func BenchmarkLoopback(b *testing.B) {
	s := newTestServer(b, untrainedModel(b), Options{})
	url := serveLoopback(b, s) + "/api/predict"
	body := encodePNG(b, drawDigit(280, strokesSeven))
	b.ResetTimer()
	st := runLoad(b, url, body, max(b.N, 32), 32)
	b.StopTimer()
	if st.failures > 0 {
		b.Fatalf("%d requests failed; first: %s", st.failures, st.firstFailure)
	}
	b.ReportMetric(st.perSecond, "requests/s")
	b.ReportMetric(float64(st.p99.Microseconds())/1000, "p99-ms")
}
