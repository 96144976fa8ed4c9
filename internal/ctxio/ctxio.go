// Package ctxio stops reads when a context ends, so that a long copy
// honours cancellation between reads.
package ctxio

import (
	"context"
	"io"
)

// Reader reads from R until Ctx ends; then every read fails with the
// context's error.
type Reader struct {
	Ctx context.Context
	R   io.Reader
}

func (c Reader) Read(p []byte) (int, error) {
	if err := c.Ctx.Err(); err != nil {
		return 0, err
	}
	return c.R.Read(p)
}
