package dashboard

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// TokenFile is the token's file in the daemon's Home.
const TokenFile = "dashboard.token"

// URLFile is the file in the daemon's Home where a serving daemon writes
// the dashboard's address, for `herd dashboard`.
const URLFile = "dashboard.url"

// LoadToken returns the token in path, creating it (32 random bytes in hex,
// mode 0600) if the file does not exist. A file that is readable by others
// or not a token is refused by name.
func LoadToken(path string) (string, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		var raw [32]byte
		if _, err := rand.Read(raw[:]); err != nil {
			return "", err
		}
		tok := hex.EncodeToString(raw[:])
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, os.ErrExist) {
			return LoadToken(path) // another process made it first
		}
		if err != nil {
			return "", err
		}
		if _, err := f.WriteString(tok + "\n"); err != nil {
			f.Close()
			return "", err
		}
		return tok, f.Close()
	}
	if err != nil {
		return "", err
	}
	st, err := os.Stat(path)
	if err != nil {
		return "", err
	}
	if st.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("%s: mode %v lets other users read the dashboard's token: chmod 600 %s, or remove it for a new one", path, st.Mode().Perm(), path)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < 32 {
		return "", fmt.Errorf("%s: not a dashboard token (at least 32 characters): remove it and a new one is made", path)
	}
	return tok, nil
}

// csrfFor returns the CSRF value of a token: an HMAC that the page holds
// and a cross-site form cannot know.
func csrfFor(token string) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write([]byte("herd dashboard csrf"))
	return hex.EncodeToString(m.Sum(nil))
}

func equal(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// CheckAddr checks that addr is a loopback host (127.0.0.0/8, ::1 or
// localhost) and a port: the dashboard speaks plain HTTP, so its token
// must not cross a network.
func CheckAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err == nil {
		if p, perr := strconv.Atoi(port); perr != nil || p < 0 || p > 65535 {
			err = errors.New("bad port")
		}
	}
	if err == nil {
		if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
			err = errors.New("not loopback")
		}
	}
	if err != nil {
		return fmt.Errorf("dashboard address %q: give a loopback host and a port, such as 127.0.0.1:9596 (the dashboard speaks plain HTTP: reach it from elsewhere through an SSH tunnel)", addr)
	}
	return nil
}
