// IP text <-> sockaddr: the socket addresses of UCP's client-server calls (ucp_ep_create,
// ucp_listener_create) and the ones UCP reports back (ucp_listener_query, ucp_conn_request_query).
#pragma once
#include <sys/socket.h>

#include <string>

namespace nucx {

// An IPv4 or IPv6 address in text ("10.0.0.1", "fe80::1") and a port -> sockaddr_in / sockaddr_in6.
// False when `ip` is neither (TypeScript resolves host names before it calls us).
bool ParseSockaddr(const std::string& ip, int port, sockaddr_storage* out, socklen_t* length);

// The IP of an AF_INET / AF_INET6 address as text; "" for any other family.
std::string SockaddrIp(const sockaddr* address);

// Its port; 0 for any other family.
int SockaddrPort(const sockaddr* address);

}  // namespace nucx
