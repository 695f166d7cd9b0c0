// Command openbao-dev is OpenBao's own CLI (`bao`), built from the Go module
// proxy so the test suite can run a real `server -dev` on 127.0.0.1.
// Build it with scripts/provision-openbao.sh; the binary lands in .cache/bin.
package main

import (
	"os"

	"github.com/openbao/openbao/command"
)

func main() {
	os.Exit(command.Run(os.Args[1:]))
}
