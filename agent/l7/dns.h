/* DNS message parser for the DNS module: the header and the first question of a captured message
 * (bpf/l7_dns.bpf.h hands over the first L7_DNS_CAP bytes). Pure functions, no allocation; every
 * loop is bounded (labels <= 63 bytes, names <= 255, at most DNS_PTR_HOPS compression pointers,
 * each pointing strictly backwards), every read checked against the buffer: bad input returns
 * -EINVAL, never reads out of bounds. */
#ifndef PODLENS_AGENT_L7_DNS_H
#define PODLENS_AGENT_L7_DNS_H

#include <stddef.h>
#include <stdint.h>

#define DNS_HDR_LEN   12
#define DNS_NAME_MAX  255          /* RFC 1035 2.3.4, wire length */
#define DNS_LABEL_MAX 63
#define DNS_PTR_HOPS  16

#define DNS_RCODE_NOERROR  0
#define DNS_RCODE_SERVFAIL 2
#define DNS_RCODE_NXDOMAIN 3

struct dns_msg {
	uint16_t id;
	uint16_t flags;              /* the header's second word: QR, opcode, AA, TC, RD, RA, rcode */
	uint16_t qdcount, ancount;
	uint16_t qtype, qclass;      /* of the first question; 0 when qdcount == 0 */
	int qr;                      /* 1: response */
	int opcode;
	int rcode;                   /* the header's 4 bits (extended rcodes live in OPT: not read) */
	int tc;                      /* truncated: the client retries over TCP */
	int name_cut;                /* 1: the capture ended inside the name (name holds its start) */
	char name[DNS_NAME_MAX + 1]; /* lowercase, dotted, no final dot; "." for the root */
};

/* Parse the header and the first question of the DNS message b[0..n) (n: captured bytes; the
 * message may be longer). 0, or -EINVAL: not a DNS message we can read (shorter than a header,
 * opcode other than QUERY, qdcount != 1 on a query, bad label, name too long, pointer loop or
 * forward pointer, question cut before its type when the name was complete). A name cut by the
 * capture is returned with name_cut = 1 and qtype 0. */
int dns__parse(const uint8_t *b, size_t n, struct dns_msg *m);

/* "A", "AAAA", "SRV", ... or "TYPE<n>" (RFC 3597) in buf. */
const char *dns__qtype_name(unsigned qtype, char *buf, size_t len);
/* "NOERROR", "NXDOMAIN", ... or "RCODE<n>". */
const char *dns__rcode_name(unsigned rcode, char *buf, size_t len);

/* The registered domain of name, approximated without the public suffix list: its last two labels
 * (three when the second-to-last is a common second-level label, co.uk, com.au). A pointer into
 * name. */
const char *dns__registered_domain(const char *name);

#endif
