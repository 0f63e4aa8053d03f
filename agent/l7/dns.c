#include "agent/l7/dns.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* One name at b[off]: dotted into out (DNS_NAME_MAX + 1 bytes). *end = the offset after the name
 * in the message (after its first pointer, if any). 0, -EINVAL, or 1 when the buffer ends inside
 * the name (out holds what was read). */
static int read_name(const uint8_t *b, size_t n, size_t off, char *out, size_t *end)
{
	size_t o = 0, wire = 0, pos = off;
	int hops = 0, jumped = 0;

	out[0] = '\0';
	for (int labels = 0; labels < 128; labels++) {
		unsigned len;

		if (pos >= n)
			return 1;
		len = b[pos];
		if ((len & 0xc0) == 0xc0) {
			size_t to;

			if (pos + 1 >= n)
				return 1;
			to = (len & 0x3f) << 8 | b[pos + 1];
			/* strictly backwards: a chain of such pointers ends, and a loop is impossible;
			 * the hop bound is defence in depth */
			if (to >= pos || ++hops > DNS_PTR_HOPS || to < DNS_HDR_LEN)
				return -EINVAL;
			if (!jumped)
				*end = pos + 2;
			jumped = 1;
			pos = to;
			continue;
		}
		if (len & 0xc0)
			return -EINVAL;                 /* 01/10: extended label types, unused */
		if (len == 0) {
			if (!jumped)
				*end = pos + 1;
			if (o == 0) {
				out[0] = '.';
				out[1] = '\0';
			}
			return 0;
		}
		wire += len + 1;
		if (wire + 1 > DNS_NAME_MAX)
			return -EINVAL;
		if (o)
			out[o++] = '.';
		for (unsigned i = 0; i < len; i++) {
			unsigned char c;

			if (pos + 1 + i >= n) {
				out[o] = '\0';
				return 1;
			}
			c = b[pos + 1 + i];
			if (c >= 'A' && c <= 'Z')
				c += 'a' - 'A';
			/* a name is data: keep it printable and free of the separator */
			if (c < 0x21 || c > 0x7e || c == '.')
				c = '?';
			out[o++] = (char)c;
		}
		out[o] = '\0';
		pos += 1 + len;
	}
	return -EINVAL;
}

int dns__parse(const uint8_t *b, size_t n, struct dns_msg *m)
{
	size_t end = 0;
	int rc;

	memset(m, 0, sizeof(*m));
	if (!b || n < DNS_HDR_LEN)
		return -EINVAL;
	m->id = (uint16_t)(b[0] << 8 | b[1]);
	m->flags = (uint16_t)(b[2] << 8 | b[3]);
	m->qdcount = (uint16_t)(b[4] << 8 | b[5]);
	m->ancount = (uint16_t)(b[6] << 8 | b[7]);
	m->qr = m->flags >> 15;
	m->opcode = (m->flags >> 11) & 0xf;
	m->tc = (m->flags >> 9) & 1;
	m->rcode = m->flags & 0xf;
	if (m->opcode != 0)
		return -EINVAL;                         /* QUERY only (no NOTIFY, UPDATE, IQUERY) */
	if (m->qdcount != 1) {
		/* a response may omit the question (FORMERR, some SERVFAILs): matched by id alone */
		if (m->qr && m->qdcount == 0)
			return 0;
		return -EINVAL;
	}
	rc = read_name(b, n, DNS_HDR_LEN, m->name, &end);
	if (rc < 0)
		return rc;
	if (rc == 1) {
		m->name_cut = 1;
		return 0;
	}
	if (end + 4 > n)
		return -EINVAL;
	m->qtype = (uint16_t)(b[end] << 8 | b[end + 1]);
	m->qclass = (uint16_t)(b[end + 2] << 8 | b[end + 3]);
	return 0;
}

const char *dns__qtype_name(unsigned qtype, char *buf, size_t len)
{
	static const struct { unsigned t; const char *s; } names[] = {
		{ 1, "A" }, { 2, "NS" }, { 5, "CNAME" }, { 6, "SOA" }, { 12, "PTR" }, { 13, "HINFO" },
		{ 15, "MX" }, { 16, "TXT" }, { 28, "AAAA" }, { 33, "SRV" }, { 35, "NAPTR" },
		{ 41, "OPT" }, { 43, "DS" }, { 46, "RRSIG" }, { 48, "DNSKEY" }, { 52, "TLSA" },
		{ 64, "SVCB" }, { 65, "HTTPS" }, { 252, "AXFR" }, { 255, "ANY" }, { 257, "CAA" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].t == qtype)
			return names[i].s;
	snprintf(buf, len, "TYPE%u", qtype);
	return buf;
}

const char *dns__rcode_name(unsigned rcode, char *buf, size_t len)
{
	static const char *const names[] = {
		"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
		"YXDOMAIN", "YXRRSET", "NXRRSET", "NOTAUTH", "NOTZONE",
	};

	if (rcode < sizeof(names) / sizeof(names[0]))
		return names[rcode];
	snprintf(buf, len, "RCODE%u", rcode);
	return buf;
}

const char *dns__registered_domain(const char *name)
{
	static const char *const second[] = { "co", "com", "net", "org", "gov", "edu", "ac", "ne", "or" };
	const char *dots[3] = { NULL, NULL, NULL };   /* the last three dots, last first */
	size_t len = strlen(name), k = 0;

	for (size_t i = len; i-- > 0 && k < 3;)
		if (name[i] == '.')
			dots[k++] = name + i;
	if (!dots[1])
		return name;                            /* one or two labels */
	/* second-to-last label in the short list, and a two-letter country code: keep three */
	if (name + len - dots[0] - 1 == 2) {
		size_t sl = (size_t)(dots[0] - dots[1] - 1);

		for (size_t i = 0; i < sizeof(second) / sizeof(second[0]); i++)
			if (strlen(second[i]) == sl && !strncmp(dots[1] + 1, second[i], sl))
				return dots[2] ? dots[2] + 1 : name;
	}
	return dots[1] + 1;
}
