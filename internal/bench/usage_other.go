//go:build !unix

package bench

// getUsage is not available here: CPU and RSS read as zero.
func getUsage() Usage { return Usage{} }
