//go:build !linux

package runtime

import "os/exec"

func setProcAttrs(cmd *exec.Cmd) {}
