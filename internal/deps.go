// Package internal anchors dependencies that packages still being written
// will use, so that go.mod stays stable meanwhile. Drop an import as soon as
// a real package uses it.
package internal

import (
	_ "github.com/schollz/progressbar/v3"
	_ "golang.org/x/term"
)
