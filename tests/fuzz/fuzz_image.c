/* fuzz_image: JPEG and PNG decoding (core/image: rcpt_image_decode,
 * rcpt_image_info_mem) on arbitrary bytes.  The pixel limit is small
 * (4 MP) so a header that claims a huge image is refused before any pixel
 * memory is taken.  Checks: header info and decode agree on the size and
 * mode; a decoded image has a packed buffer of exactly that size; a refusal
 * is ECORRUPT / ELIMIT / EINVAL with a message. */
#include "fuzz_util.h"
#include "image/image.h"

#define MAX_PX (4ull << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rcpt_err err = {0};
    rcpt_image_info info;
    memset(&info, 0, sizeof info);
    int irc = rcpt_image_info_mem(data, size, &info, &err);
    if (irc == RCPT_OK) {
        FUZZ_CHECK(info.width > 0 && info.height > 0, "info %dx%d", info.width, info.height);
        FUZZ_CHECK(info.channels == 1 || info.channels == 3 || info.channels == 4, "info channels %d",
                   info.channels);
        FUZZ_CHECK(info.format == RCPT_IMAGE_FMT_JPEG || info.format == RCPT_IMAGE_FMT_PNG, "format %d",
                   info.format);
    } else {
        FUZZ_CHECK(err.code == irc && err.msg[0], "info error %d without a message", irc);
    }

    rcpt_image img = RCPT_IMAGE_INIT;
    int rc = rcpt_image_decode(data, size, MAX_PX, &img, &err);
    if (rc == RCPT_OK) {
        FUZZ_CHECK(irc == RCPT_OK, "decoded an image whose header info failed");
        FUZZ_CHECK(img.width == info.width && img.height == info.height && img.channels == info.channels,
                   "decode %dx%dx%d, info %dx%dx%d", img.width, img.height, img.channels, info.width,
                   info.height, info.channels);
        FUZZ_CHECK((uint64_t)img.width * (uint64_t)img.height <= MAX_PX, "over the pixel limit");
        FUZZ_CHECK(img.px != NULL && img.stride == (size_t)img.width * (size_t)img.channels,
                   "not packed");
        /* touch every byte (ASan: the buffer really has that size; MSan-like
         * reads of uninitialised rows would show as varying hashes) */
        char hex[65];
        FUZZ_CHECK(rcpt_image_sha256(&img, hex, &err) == RCPT_OK, "sha256: %s", err.msg);
        rcpt_image_free(&img);
        FUZZ_CHECK(img.px == NULL, "free left pixels");
    } else {
        FUZZ_CHECK(img.px == NULL && img.width == 0, "*out touched on failure");
        FUZZ_CHECK(err.code == rc && err.msg[0], "decode error %d without a message", rc);
        FUZZ_CHECK(rc == RCPT_ECORRUPT || rc == RCPT_ELIMIT || rc == RCPT_EINVAL || rc == RCPT_ENOMEM,
                   "decode: unexpected code %d (%s)", rc, err.msg);
        if (irc == RCPT_OK && rc == RCPT_ELIMIT)
            FUZZ_CHECK((uint64_t)info.width * (uint64_t)info.height > MAX_PX, "ELIMIT under the limit");
    }
    return 0;
}
