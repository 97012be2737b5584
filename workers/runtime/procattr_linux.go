package runtime

import (
	"os/exec"
	"syscall"
)

// workerd must not outlive the portal, even when the portal is killed hard.
func setProcAttrs(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
