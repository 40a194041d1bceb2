package main

import (
	"errors"
	"fmt"
	"io/fs"
	"log"
	"net"
	"os"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/mnist-go/mnist/cmd/mnist/internal/web"
	"github.com/mnist-go/mnist/mnist/digitize"
)

func serveCommand() *cli.Command {
	return &cli.Command{
		Name:  "serve",
		Usage: "serve a page to draw or upload a digit and see the model's answer, and a JSON API",
		Description: "Serves one page (no network needed: everything is embedded) where you draw a digit with a\n" +
			"mouse, pen or finger, or upload an image, and see the prediction as you draw, the ten probabilities\n" +
			"and the 28×28 image the model saw, prepared exactly as `mnist predict` prepares files.\n\n" +
			"API: POST /api/predict with a PNG or JPEG body, or JSON {\"pixels\": [784 numbers]} (optional ?ink=\n" +
			"auto|dark|bright); GET /api/model; GET /healthz. Bodies over 1 MiB get 413, images over 4\n" +
			"megapixels 400; requests for a host name it does not know get 421 (see --allow-host). Stops\n" +
			"gracefully on Ctrl-C, SIGTERM or SIGHUP (exit status 130, 143, 129).",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "model", Value: "model.safetensors", Usage: "model `FILE` written by mnist train"},
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8080", Usage: "`HOST:PORT` to listen on (port 0 picks a free one; 0.0.0.0 to allow other machines)"},
			&cli.StringFlag{Name: "ink", Value: "auto", Usage: "default `INK` colour of images: auto, dark (on light paper) or bright (on dark)"},
			&cli.StringSliceFlag{Name: "allow-host", Usage: "also answer requests for host `NAME` (repeat, or *.example.com); localhost, IP addresses and this machine's name are always answered"},
			&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "log one line per request to stderr"},
		},
		Action: serveAction,
	}
}

func serveAction(c *cli.Context) error {
	if err := noArgs(c); err != nil {
		return err
	}
	ink, err := digitize.ParsePolarity(c.String("ink"))
	if err != nil {
		return usageError{err}
	}
	addr := c.String("addr")
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return usageErrorf("--addr %q: %v: want host:port, for example 127.0.0.1:8080 or :8080", addr, err)
	}
	model, err := loadClassifier(c.String("model"))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: train a model first (mnist train --out %s) or name one with --model", err, c.String("model"))
	}
	if err != nil {
		return err
	}
	defer model.Close()
	if os.Getenv("GOMEMLIMIT") == "" {
		// Hostile requests arrive in bursts: collect garbage before the heap
		// doubles, so that 32 concurrent 4-megapixel uploads stay within a
		// few hundred MB (the limit is soft: a real need may exceed it).
		debug.SetMemoryLimit(serveMemoryLimit)
	}
	errLog := log.New(c.App.ErrWriter, "mnist serve: ", log.LstdFlags)
	opt := web.Options{Ink: ink, ErrorLog: errLog, AllowHosts: c.StringSlice("allow-host")}
	if c.Bool("verbose") {
		opt.RequestLog = log.New(c.App.ErrWriter, "", log.LstdFlags|log.Lmicroseconds)
	}
	srv, err := web.New(model, opt)
	if err != nil {
		return usageErrorf("--allow-host: %v", err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return fmt.Errorf("listen on %s: the port is in use (is another `mnist serve` running?): choose another with --addr", addr)
		}
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	about := "untrained"
	if acc := model.Info.TestAccuracy; acc > 0 {
		about = fmt.Sprintf("%.2f%% test accuracy", 100*acc)
	}
	fmt.Fprintf(c.App.Writer, "serving %s (%s) from %s\n", model.Info.Spec, about, c.String("model"))
	fmt.Fprintf(c.App.Writer, "open %s in a browser; Ctrl-C to stop\n", pageURL(ln.Addr()))
	if err := srv.Serve(c.Context, ln); err != nil {
		return err
	}
	fmt.Fprintln(c.App.Writer, "stopped")
	if code := signalStatus(c.Context); code != 0 {
		return exitError{code: code} // 130 after Ctrl-C, 143 after SIGTERM, as the README says
	}
	return nil
}

// serveMemoryLimit is the Go runtime's soft memory limit for mnist serve
// unless GOMEMLIMIT says otherwise.
const serveMemoryLimit = 384 << 20

// pageURL is the address to open for a listener: a wildcard host (":8080",
// "0.0.0.0:8080", "[::]:8080") is shown as localhost.
func pageURL(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil {
		return "http://" + a.String() + "/"
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "localhost"
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return "http://" + host + ":" + port + "/"
}
