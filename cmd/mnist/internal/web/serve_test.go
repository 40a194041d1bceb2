package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startSlowRequest posts a PNG over a raw connection and returns once the
// handler is running and reading the body (the server has answered the
// Expect: 100-continue); the request stays in flight until finish sends the
// body. The final status, or an error, comes on the returned channel.
func startSlowRequest(t *testing.T, addr string, body []byte) (finish func(), result <-chan any) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	fmt.Fprintf(conn, "POST /api/predict HTTP/1.1\r\nHost: %s\r\nContent-Type: image/png\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", addr, len(body))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue, got %v, %v", resp, err)
	}
	res := make(chan any, 1)
	return func() {
		go func() {
			if _, err := conn.Write(body); err != nil {
				res <- err
				return
			}
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				res <- err
				return
			}
			io.Copy(io.Discard, resp.Body)
			res <- resp.StatusCode
		}()
	}, res
}

// TestGracefulShutdownOnSIGTERM sends the test process SIGTERM, as a service
// manager would, while a request is in flight: the request must complete,
// new connections must be refused, and Serve must return nil.
func TestGracefulShutdownOnSIGTERM(t *testing.T) {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM) // what the command's run does
	defer stop()
	s := newTestServer(t, untrainedModel(t), Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()

	finish, result := startSlowRequest(t, ln.Addr().String(), encodePNG(t, drawDigit(200, strokesSeven)))
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()
	// The listener closes at once; the request in flight keeps running.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("the server still accepts connections after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	select {
	case err := <-done:
		t.Fatalf("Serve returned (%v) while a request was in flight", err)
	default:
	}
	finish()
	if got := <-result; got != 200 {
		t.Errorf("request in flight during shutdown: %v, want status 200", got)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Serve after SIGTERM: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after the last request finished")
	}
}

// TestShutdownTimeout checks that Serve gives up on a request that outlives
// ShutdownTimeout, closes it and says so.
func TestShutdownTimeout(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{ShutdownTimeout: 100 * time.Millisecond})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	finish, result := startSlowRequest(t, ln.Addr().String(), encodePNG(t, drawDigit(200, strokesSeven)))
	cancel()
	select {
	case err := <-done:
		if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still running") {
			t.Errorf("Serve: %v, want a shutdown timeout", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its shutdown timeout")
	}
	finish()
	if got := <-result; got == 200 {
		t.Errorf("request cut off by the shutdown answered 200")
	}
}

// TestServeListenerError checks that Serve reports a listener that fails.
func TestServeListenerError(t *testing.T) {
	s := newTestServer(t, untrainedModel(t), Options{})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if err := s.Serve(context.Background(), ln); err == nil || !strings.Contains(err.Error(), ln.Addr().String()) {
		t.Errorf("Serve on a closed listener: %v", err)
	}
}
