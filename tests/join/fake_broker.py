#!/usr/bin/env python3
"""A fake broker for tests/join/own_link_test.cpp: the local user who binds the broker's
port while the broker restarts. It listens on 127.0.0.1:PORT with a certificate the fleet
CA did not sign and writes what every client did to CAPTURE, one line per event, flushed:
  connection N            a TCP connection was accepted
  handshake-failed N WHY  the client refused the TLS handshake (or it broke)
  handshake-ok N          the client accepted the certificate
  data N HEX              the first bytes it sent after the handshake (its MQTT CONNECT)
A client that sends no password to an unproven listener only ever produces the first two.

  fake_broker.py PORT CERT KEY CAPTURE
"""
import socket
import ssl
import sys


def main():
    port, cert, key, capture = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(16)
    out = open(capture, "a", buffering=1)
    n = 0
    while True:
        conn, _ = srv.accept()
        n += 1
        out.write(f"connection {n}\n")
        conn.settimeout(5)
        try:
            tls = ctx.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError) as e:
            out.write(f"handshake-failed {n} {type(e).__name__}: {e}\n")
            conn.close()
            continue
        out.write(f"handshake-ok {n}\n")
        try:
            # The CONNECT is the client's first packet; it never gets a CONNACK.
            data = tls.recv(65536)
            if data:
                out.write(f"data {n} {data.hex()}\n")
        except (ssl.SSLError, OSError):
            pass
        tls.close()


if __name__ == "__main__":
    main()
