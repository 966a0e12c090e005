package main

import (
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/meridian-traffic/meridian/cluster"
)

// flagAllowInsecure names the flag that accepts group- or world-readable
// secret files (with a warning): for a secret mounted by a tool that cannot
// set modes.
const flagAllowInsecure = "allow-insecure-secret-files"

// readSecretFile reads a PSK or token file and refuses one that is empty or
// readable by others (unless allowInsecure; then log warns).
func readSecretFile(what, path string, allowInsecure bool, log *slog.Logger) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Secret files are small; a bound keeps a wrong path (a device, a log)
	// from being read whole.
	const maxSecretFile = 1 << 20
	data := make([]byte, 0, min(st.Size(), maxSecretFile))
	buf := make([]byte, 4096)
	for len(data) < maxSecretFile {
		n, err := f.Read(buf)
		data = append(data, buf[:n]...)
		if err != nil {
			break
		}
	}
	err = cluster.CheckSecretFile(path, st.Mode(), data)
	if errors.Is(err, cluster.ErrSecretFileOpen) && allowInsecure {
		log.Warn("secret file is readable by others; accepted because of --"+flagAllowInsecure, "what", what, "file", path, "mode", fmt.Sprintf("%04o", st.Mode().Perm()))
		err = nil
	}
	if err != nil {
		if errors.Is(err, cluster.ErrSecretFileOpen) {
			return nil, fmt.Errorf("%s: %w, or pass --%s", what, err, flagAllowInsecure)
		}
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return data, nil
}
