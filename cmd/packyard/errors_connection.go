package main

import (
	"errors"
	"io"
	"net/url"
	"syscall"
)

// connectionCutAdvice is the recommendation for a request whose
// connection was cut.
const connectionCutAdvice = "The registry stopped, restarted or dropped the connection: check that it runs, then run the command again. " +
	"A push that is cut off leaves no half-pushed version visible, and the next push completes it."

// connectionCut says whether err is a request to a registry whose
// connection ended before the response did: the registry died or
// restarted, or something between dropped the connection.
func connectionCut(err error) bool {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return false
	}
	for _, cause := range []error{io.EOF, io.ErrUnexpectedEOF, syscall.ECONNRESET, syscall.EPIPE} {
		if errors.Is(ue.Err, cause) {
			return true
		}
	}
	return false
}
