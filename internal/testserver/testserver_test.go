package testserver

import (
	"database/sql"
	"net"
	"testing"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestMariaDB(t *testing.T) {
	db, err := sql.Open("mysql", MySQLDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var one int
	if err := db.QueryRowContext(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestPostgres(t *testing.T) {
	conn, err := pgx.Connect(t.Context(), PostgresDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(t.Context())
	var one int
	if err := conn.QueryRow(t.Context(), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
}

func TestRedis(t *testing.T) {
	addr, socket := Redis(t)
	for _, target := range []struct{ network, addr string }{{"tcp", addr}, {"unix", socket}} {
		c, err := net.Dial(target.network, target.addr)
		if err != nil {
			t.Fatalf("dial %s %s: %v", target.network, target.addr, err)
		}
		if _, err := c.Write([]byte("PING\r\n")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 7)
		if _, err := c.Read(buf); err != nil || string(buf) != "+PONG\r\n" {
			t.Fatalf("PING over %s = %q, %v", target.network, buf, err)
		}
		c.Close()
	}
}
