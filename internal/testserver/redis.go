package testserver

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// StartRedis starts a Redis server without persistence on a free port of
// 127.0.0.1 and on a Unix socket in its directory. The DSN is a
// redis://127.0.0.1:port URL; Socket is the Unix socket's path.
func StartRedis(ctx context.Context, base string) (*Server, error) {
	bin, err := lookBin("redis-server")
	if err != nil {
		return nil, fmt.Errorf("start redis: %w", err)
	}
	dir, owns, err := makeDir(base, "redis")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "redis.log")
	s := &Server{Kind: "redis", Dir: dir, ownsDir: owns, Socket: filepath.Join(dir, "redis.sock"),
		stopSig: syscall.SIGTERM, Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	err = startDaemon(s, nil, logPath, bin, "--bind", "127.0.0.1", "--port", itoa(port),
		"--unixsocket", s.Socket, "--unixsocketperm", "700", "--save", "", "--appendonly", "no",
		"--dir", dir, "--daemonize", "no", "--protected-mode", "no")
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := waitReady(ctx, s, logPath, dialReady(s.Addr)); err != nil {
		return nil, err
	}
	s.DSN = "redis://" + s.Addr
	return s, nil
}
