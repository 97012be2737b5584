//go:build unix

package main

import "syscall"

// privateFiles makes every file this process and its children (workerd)
// create readable by the operator alone: the data dir holds the database,
// tokens, keys and tenants' code.
func privateFiles() { syscall.Umask(0o077) }
