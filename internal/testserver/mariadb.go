package testserver

import (
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"syscall"
)

// mariadbPassword is the password of the test user. It is deliberately not
// empty, so that tests can check that DSNs are never logged with it.
const mariadbPassword = "whycache-test-secret"

// StartMariaDB initialises a MariaDB data directory under base (the system
// temporary directory when empty) and starts a server on a free port of
// 127.0.0.1 with a database "whycache" and a user "whycache" that may create
// further databases. The DSN is for github.com/go-sql-driver/mysql.
func StartMariaDB(ctx context.Context, base string, opts ...Option) (*Server, error) {
	o := buildOptions(defaultMariaDBMaxConnections, opts)
	mariadbd, err := lookBin("mariadbd", "/usr/sbin/mariadbd", "mysqld", "/usr/sbin/mysqld")
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	installDB, err := lookBin("mariadb-install-db", "mysql_install_db")
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	client, err := lookBin("mariadb", "mysql")
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	dir, owns, err := makeDir(base, "mariadb")
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	u, err := user.Current()
	if err != nil {
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	data := filepath.Join(dir, "data")
	sock := filepath.Join(dir, "mysqld.sock")
	logPath := filepath.Join(dir, "mariadb.log")
	s := &Server{Kind: "mariadb", Dir: dir, ownsDir: owns, Socket: sock, stopSig: syscall.SIGTERM,
		Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := run(ctx, nil, installDB, "--user="+u.Username, "--datadir="+data,
		"--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"); err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("start mariadb: %w", err)
	}
	err = startDaemon(s, nil, logPath, mariadbd, "--no-defaults", "--user="+u.Username,
		"--datadir="+data, "--bind-address=127.0.0.1", "--port="+itoa(port), "--socket="+sock,
		"--pid-file="+filepath.Join(dir, "mysqld.pid"), "--log-error="+logPath,
		"--skip-name-resolve", "--max-allowed-packet=256M", "--innodb-buffer-pool-size=256M",
		"--innodb-log-file-size=256M", "--max-connections="+itoa(o.maxConnections))
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := waitReady(ctx, s, logPath, dialReady(s.Addr)); err != nil {
		return nil, err
	}
	setup := fmt.Sprintf("CREATE DATABASE whycache; CREATE USER 'whycache'@'%%' IDENTIFIED BY '%s'; "+
		"GRANT ALL ON *.* TO 'whycache'@'%%'; FLUSH PRIVILEGES;", mariadbPassword)
	if err := run(ctx, nil, client, "--no-defaults", "--socket="+sock, "-uroot", "-e", setup); err != nil {
		_ = s.Stop()
		return nil, fmt.Errorf("start mariadb: create user: %w", err)
	}
	s.DSN = fmt.Sprintf("whycache:%s@tcp(%s)/whycache", mariadbPassword, s.Addr)
	return s, nil
}
