"""What the tests share: pictures, servers, Socket.IO clients and checks on answers (one module each)."""
