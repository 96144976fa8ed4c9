//go:build !unix

package packer

// noFollow is not available here; Unpack creates links last instead.
const noFollow = 0
