// Package web serves a trained digit recogniser over HTTP: one embedded page
// to draw or upload a digit and watch the prediction, and the JSON API the
// page uses (POST /api/predict, GET /api/model, GET /healthz).
//
// Images are prepared with package digitize exactly as `mnist predict`
// prepares files, so the page and the command line agree. The model is
// shared read-only by all requests (nn.Classifier is safe for concurrent
// use); request bodies are limited, the work of each prediction is bounded,
// and the http.Server has read, write and idle timeouts.
package web

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mnist-go/mnist/mnist/digitize"
	"github.com/mnist-go/mnist/nn"
)

//go:embed static
var staticFiles embed.FS

// Defaults of Options.
const (
	// DefaultMaxBodyBytes is the largest request body accepted: 1 MiB, ample
	// for a canvas drawing (tens of KiB) or a reasonably sized photo.
	DefaultMaxBodyBytes = 1 << 20
	// DefaultMaxPixels is the largest image (width×height) decoded: 4
	// megapixels. A 1 MiB PNG can claim far more; decoding it would cost
	// tens of MiB per request.
	DefaultMaxPixels = 4_000_000
	// DefaultQueueTimeout is how long a request waits for a free slot: a
	// burst of large images is answered "busy" rather than late.
	DefaultQueueTimeout = 5 * time.Second
	// DefaultShutdownTimeout is how long Serve waits for requests in flight
	// once its context is cancelled.
	DefaultShutdownTimeout = 10 * time.Second
)

// The http.Server timeouts. A prediction takes milliseconds; these bound slow
// or idle clients, not the work.
const (
	readHeaderTimeout = 5 * time.Second
	readTimeout       = 15 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 120 * time.Second
)

// Options configure a Server. The zero value is usable: auto ink polarity,
// the default limits, no request log.
type Options struct {
	// Ink is the polarity used when a request does not say (?ink=...).
	Ink digitize.Polarity
	// MaxBodyBytes limits request bodies (413 beyond); 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// MaxPixels limits decoded images (400 beyond); 0 means DefaultMaxPixels.
	MaxPixels int
	// MaxConcurrent bounds requests being read, decoded and run at once
	// (others wait their turn, before their body is read); 0 means
	// 2×GOMAXPROCS. The work is CPU-bound, so more would only add memory,
	// not throughput: each may hold MaxBodyBytes and a decoded image of
	// MaxPixels (16 bytes a pixel for a 16-bit RGBA PNG with its float planes).
	MaxConcurrent int
	// QueueTimeout bounds how long a request waits for a slot before it is
	// answered 503 with Retry-After; 0 means DefaultQueueTimeout.
	QueueTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown in Serve; 0 means DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// RequestLog, when set, gets one line per request.
	RequestLog *log.Logger
	// ErrorLog, when set, gets the http.Server's own errors (bad TLS
	// handshakes, panics); nil means the log package's standard logger.
	ErrorLog *log.Logger
	// AllowHosts are host names, besides localhost, IP addresses and this
	// machine's name, that requests may carry in their Host header (see
	// HostAllowed); "*.example.com" allows every subdomain.
	AllowHosts []string
}

// Server answers the page and the API for one model. It is an http.Handler;
// Serve runs it on a listener with timeouts and a graceful shutdown.
type Server struct {
	model *nn.Classifier
	name  string // e.g. "mlp-64-32"
	opt   Options
	slots chan struct{} // one token per prediction allowed to run
	mux   *http.ServeMux
	hosts map[string]bool // AllowHosts and this machine's name, lower case
	// draining is set once Serve begins to shut down: answers then carry
	// "Connection: close", so that keep-alive clients open no new request
	// on a connection that is about to close.
	draining atomic.Bool
}

// New returns a Server for model.
func New(model *nn.Classifier, opt Options) (*Server, error) {
	if model == nil {
		return nil, errors.New("web: no model")
	}
	if opt.MaxBodyBytes < 0 || opt.MaxPixels < 0 || opt.MaxConcurrent < 0 || opt.ShutdownTimeout < 0 || opt.QueueTimeout < 0 {
		return nil, fmt.Errorf("web: negative limit in %+v", opt)
	}
	if opt.MaxBodyBytes == 0 {
		opt.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if opt.MaxPixels == 0 {
		opt.MaxPixels = DefaultMaxPixels
	}
	if opt.MaxConcurrent == 0 {
		opt.MaxConcurrent = 2 * runtime.GOMAXPROCS(0)
	}
	if opt.ShutdownTimeout == 0 {
		opt.ShutdownTimeout = DefaultShutdownTimeout
	}
	if opt.QueueTimeout == 0 {
		opt.QueueTimeout = DefaultQueueTimeout
	}
	s := &Server{
		model: model,
		name:  model.Info.Spec.String(),
		opt:   opt,
		slots: make(chan struct{}, opt.MaxConcurrent),
		mux:   http.NewServeMux(),
		hosts: map[string]bool{},
	}
	for _, h := range opt.AllowHosts {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || strings.ContainsAny(h, "/:@ ") {
			return nil, fmt.Errorf("web: allowed host %q: want a host name such as example.com or *.example.com, without scheme or port", h)
		}
		s.hosts[h] = true
	}
	if name, err := os.Hostname(); err == nil && name != "" {
		s.hosts[strings.ToLower(name)] = true
	}
	static, err := fs.Sub(staticFiles, "static")
	if err != nil {
		return nil, err
	}
	files := http.FileServerFS(static)
	s.mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeFileFS(w, r, static, "index.html")
	})
	s.mux.Handle("GET /static/", http.StripPrefix("/static", noDirs(files)))
	s.mux.HandleFunc("POST /api/predict", s.predict)
	s.mux.HandleFunc("GET /api/model", s.modelInfo)
	s.mux.HandleFunc("GET /healthz", s.health)
	s.mux.HandleFunc("/api/", apiFallback)
	s.mux.HandleFunc("/healthz", apiFallback)
	return s, nil
}

// ServeHTTP sets the headers every answer gets and routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// Everything the page needs comes from this server: no CDN, no inline script.
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data: blob:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if s.draining.Load() {
		h.Set("Connection", "close")
	}
	if !s.HostAllowed(r.Host) {
		// A page on another site can make a browser send requests here
		// under its own name (DNS rebinding): refuse names we do not know.
		writeJSON(w, http.StatusMisdirectedRequest, apiError{fmt.Sprintf(
			"this server does not answer to the host name %q: open it by localhost or its IP address, or start it with --allow-host %s",
			r.Host, hostOnly(r.Host))})
		if s.opt.RequestLog != nil {
			s.opt.RequestLog.Printf("%s %s %d refused host %q %s", r.Method, r.URL.RequestURI(), http.StatusMisdirectedRequest, r.Host, r.RemoteAddr)
		}
		return
	}
	if s.opt.RequestLog == nil {
		s.mux.ServeHTTP(w, r)
		return
	}
	start := time.Now()
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	s.mux.ServeHTTP(rec, r)
	s.opt.RequestLog.Printf("%s %s %d %dB %s %s", r.Method, r.URL.RequestURI(), rec.status, rec.bytes,
		time.Since(start).Round(10*time.Microsecond), r.RemoteAddr)
}

// HostAllowed reports whether a request's Host header (host or host:port)
// names this server: an IP address, localhost or a name under .localhost,
// this machine's name, or one of Options.AllowHosts. An empty Host (HTTP/1.0)
// is allowed: browsers always send one. A DNS-rebinding page reaches the
// server under the attacker's own name, which none of these is.
func (s *Server) HostAllowed(hostport string) bool {
	if hostport == "" {
		return true
	}
	host := strings.ToLower(strings.TrimSuffix(hostOnly(hostport), "."))
	if net.ParseIP(strings.Trim(host, "[]")) != nil {
		return true
	}
	if host == "localhost" || strings.HasSuffix(host, ".localhost") || s.hosts[host] {
		return true
	}
	for i := strings.IndexByte(host, '.'); i >= 0; i = strings.IndexByte(host, '.') {
		host = host[i+1:]
		if s.hosts["*."+host] {
			return true
		}
	}
	return false
}

// hostOnly drops the port of a Host header.
func hostOnly(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// HTTPServer returns an http.Server for s with its timeouts set, for callers
// that manage the listener and shutdown themselves (Serve does both).
func (s *Server) HTTPServer() *http.Server {
	return &http.Server{
		Handler:           s,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          s.opt.ErrorLog,
	}
}

// Serve answers requests on ln until ctx is cancelled (the command cancels it
// on SIGINT or SIGTERM), then shuts down gracefully: it stops accepting new
// connections, answers for a short while (drainGrace) the requests that
// keep-alive clients may already have sent, each answer with "Connection:
// close", lets requests in flight finish for up to Options.ShutdownTimeout,
// and returns nil. It returns an error when serving fails or the shutdown
// times out (the remaining connections are then closed). ln is closed on
// return.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	hs := s.HTTPServer()
	oln := &onceCloseListener{Listener: ln}
	done := make(chan error, 1)
	go func() { done <- hs.Serve(oln) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	start := time.Now()
	s.draining.Store(true)
	oln.Close() // no new connections; those open go on being served
	<-done      // hs.Serve returns once its listener is closed
	// A client may have sent its next request on a keep-alive connection
	// just before the shutdown began; closing that connection as idle would
	// drop the request. Leave idle connections open for a moment.
	time.Sleep(min(drainGrace, s.opt.ShutdownTimeout/4))
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.opt.ShutdownTimeout-time.Since(start))
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close()
		return fmt.Errorf("shut down the server on %s: requests still running after %s: %w", ln.Addr(), s.opt.ShutdownTimeout, err)
	}
	return nil
}

// drainGrace is how long a shutting-down server keeps idle keep-alive
// connections open, for requests already on their way.
const drainGrace = 500 * time.Millisecond

// onceCloseListener closes its listener once: Serve closes it to stop
// accepting, and http.Server.Shutdown closes it again.
type onceCloseListener struct {
	net.Listener
	once sync.Once
	err  error
}

func (l *onceCloseListener) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// noDirs answers 404 for directory paths, so that the file server lists nothing.
func noDirs(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "" || strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// statusRecorder remembers the status and size of an answer, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	bytes  int64
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(p []byte) (int, error) {
	r.wrote = true
	n, err := r.ResponseWriter.Write(p)
	r.bytes += int64(n)
	return n, err
}

// Unwrap lets http.ResponseController reach the real writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }
