"""ggml's RPC protocol 7 on the wire, enough to talk to a worker or to pose as one in tests.

Request: command byte, u64 size, payload. Response: u64 size, payload. Layouts follow the packed
structs of ggml/src/ggml-rpc/ggml-rpc.cpp at the pin (rpc_tensor is 296 bytes).
"""

import socket
import struct

(ALLOC_BUFFER, GET_ALIGNMENT, GET_MAX_SIZE, BUFFER_GET_BASE, FREE_BUFFER, BUFFER_CLEAR, SET_TENSOR, SET_TENSOR_HASH,
 GET_TENSOR, COPY_TENSOR, GRAPH_COMPUTE, GET_DEVICE_MEMORY, INIT_TENSOR, GET_ALLOC_SIZE, HELLO, DEVICE_COUNT,
 GRAPH_RECOMPUTE, MEMSET_TENSOR) = range(18)
CAPS_SIZE = 24
TYPE_F32, TYPE_I32 = 0, 26
OP_NONE, OP_GET_ROWS, OP_SET_ROWS = 0, 40, 42
MAX_SRC, MAX_OP_PARAMS, MAX_NAME = 10, 64, 64
TENSOR_SIZE = 296


def tensor(id, type=TYPE_F32, buffer=0, ne=(1, 1, 1, 1), nb=None, op=OP_NONE, src=(), data=0, name=b""):
    """One rpc_tensor; nb defaults to a dense layout of 4-byte elements."""
    if nb is None:
        nb = (4, 4 * ne[0], 4 * ne[0] * ne[1], 4 * ne[0] * ne[1] * ne[2])
    srcs = list(src) + [0] * (MAX_SRC - len(src))
    packed = struct.pack("<QIQ4I4II", id, type, buffer, *ne, *nb, op) + bytes(MAX_OP_PARAMS)
    packed += struct.pack("<i", 0) + struct.pack(f"<{MAX_SRC}Q", *srcs) + struct.pack("<QQQ", 0, 0, data)
    packed += name.ljust(MAX_NAME, b"\0") + struct.pack("<i", 0)
    assert len(packed) == TENSOR_SIZE
    return packed


def request(cmd, payload=b""):
    return bytes([cmd]) + struct.pack("<Q", len(payload)) + payload


def recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError(f"peer closed after {len(data)} of {n} bytes")
        data += chunk
    return data


def call(sock, cmd, payload=b""):
    """Send a request and read its response's payload."""
    sock.sendall(request(cmd, payload))
    size = struct.unpack("<Q", recv_exact(sock, 8))[0]
    return recv_exact(sock, size)


def hello(sock):
    """(major, minor, patch) of the worker at the other end of sock."""
    major, minor, patch = call(sock, HELLO, bytes(CAPS_SIZE))[:3]
    return major, minor, patch


def connect(port, timeout=10):
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    sock.settimeout(timeout)
    return sock


def alloc_buffer(sock, size):
    """(remote buffer, its base address) of a new buffer on device 0."""
    remote, _ = struct.unpack("<QQ", call(sock, ALLOC_BUFFER, struct.pack("<IQ", 0, size)))
    base = struct.unpack("<Q", call(sock, BUFFER_GET_BASE, struct.pack("<Q", remote)))[0]
    return remote, base


def graph(nodes, tensors, device=0):
    """GRAPH_COMPUTE's payload: node ids, then the tensors they refer to."""
    return (struct.pack("<II", device, len(nodes)) + struct.pack(f"<{len(nodes)}Q", *nodes) +
            struct.pack("<I", len(tensors)) + b"".join(tensors))


def serve_hello_once(listener, version):
    """Pose as a worker of another protocol version: answer one HELLO, then close."""
    conn, _ = listener.accept()
    with conn:
        conn.settimeout(10)
        cmd = recv_exact(conn, 1)[0]
        size = struct.unpack("<Q", recv_exact(conn, 8))[0]
        recv_exact(conn, size)
        if cmd == HELLO:
            conn.sendall(struct.pack("<Q", 4 + CAPS_SIZE) + bytes([*version, 0]) + bytes(CAPS_SIZE))
            try:
                recv_exact(conn, 1)  # wait for the server to hang up
            except (ConnectionError, OSError):
                pass
