package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel kill a child when the harness dies, so no
// broker or receiver outlives an interrupted run.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
