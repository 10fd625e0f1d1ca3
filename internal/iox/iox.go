// Package iox holds the small I/O helpers that several packages need alike.
package iox

import "io"

// Fill reads from r until p is full or r fails: a full p comes with a nil error, a short one
// with r's error (io.EOF at the end of r). Unlike io.ReadFull it passes r's errors on as they
// are, so an io.ErrUnexpectedEOF from r (a body cut short) is a failure, never taken for the
// end of the data: the blob store and the stream transport both rely on that.
func Fill(r io.Reader, p []byte) (int, error) {
	n := 0
	for n < len(p) {
		k, err := r.Read(p[n:])
		n += k
		if err != nil {
			return n, err
		}
	}
	return n, nil
}
