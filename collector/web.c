/* The web page, embedded in the binary (collector/web/index.html, no external fetches). */
#include "collector/collector.h"

__asm__(".section .rodata\n"
	".global web_index_html\n"
	".type web_index_html, @object\n"
	"web_index_html:\n"
	".incbin \"collector/web/index.html\"\n"
	".global web_index_html_end\n"
	".type web_index_html_end, @object\n"
	"web_index_html_end:\n"
	".byte 0\n"
	".previous\n");
