package zoho

import (
	"context"
	"errors"
)

type stopKey struct{}

// ErrStopped is what a call returns when it gave up waiting because its
// context's stop channel (WithStopWaiting) was closed. It is Retryable: the
// call was not sent, or not sent again.
var ErrStopped = errors.New("stopped waiting: shutting down")

// WithStopWaiting returns a context under which calls give up their waits
// once stop is closed: the backoff before a retry, a concurrency slot, the
// credit budget, a token refresh in progress or the token mint budget. A
// request already sent is not cancelled (it may have been written). A
// connector draining for shutdown uses it to finish what is in flight
// without waiting out an outage.
func WithStopWaiting(ctx context.Context, stop <-chan struct{}) context.Context {
	return context.WithValue(ctx, stopKey{}, stop)
}

// StopChannel returns ctx's stop channel (WithStopWaiting), nil (never
// ready) when it has none, for waits of the caller's own.
func StopChannel(ctx context.Context) <-chan struct{} { return stopOf(ctx) }

// stopOf returns ctx's stop channel, nil (never ready) when it has none.
func stopOf(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stopKey{}).(<-chan struct{})
	return ch
}

// waitErr is the error of a wait that ended early: ctx's, or ErrStopped.
func waitErr(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ErrStopped
}
