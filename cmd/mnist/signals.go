package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/mnist-go/mnist/internal/atomicfile"
)

// interruption is the cause of the context a signal cancels.
type interruption struct{ sig os.Signal }

func (i interruption) Error() string { return "interrupted by " + i.sig.String() }

// handleSignals returns a context that the first SIGINT, SIGTERM or SIGHUP
// (the terminal closed) cancels,
// so that commands can finish what they are doing cleanly (training finishes
// its step and writes a checkpoint). A second signal ends the process at
// once, after removing the temporary files of writes in progress: files at
// their final names are never touched.
func handleSignals() (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig, ok := <-sigs
		if !ok {
			return
		}
		cancel(interruption{sig})
		fmt.Fprintf(os.Stderr, "\nmnist: %v: stopping cleanly (send it again to exit at once)\n", sig)
		if sig, ok = <-sigs; ok {
			atomicfile.RemovePending()
			os.Exit(exitStatus(sig))
		}
	}()
	return ctx, func() {
		signal.Stop(sigs)
		close(sigs)
		cancel(nil)
	}
}

// exitStatus is the shell's convention for a process ended by sig: 128 + its number.
func exitStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 1
}

// signalStatus returns the exit status for the signal that cancelled ctx, or
// 0 when no signal did.
func signalStatus(ctx context.Context) int {
	if i, ok := context.Cause(ctx).(interruption); ok {
		return exitStatus(i.sig)
	}
	return 0
}
