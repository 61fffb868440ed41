/*
 * A stand-in for Windows' bcryptprimitives.dll, for Wine releases that lack
 * it (Debian 12's Wine 8.0). Every Go >= 1.22 Windows binary loads it from
 * system32 at start-up for ProcessPrng, its source of random bytes, and
 * exits with "bcryptprimitives.dll not found" without it. ProcessPrng here
 * asks Wine's bcrypt for the system's preferred RNG, as Windows' own
 * ProcessPrng draws from the same kernel RNG.
 *
 * Build (Debian package gcc-mingw-w64-x86-64-win32):
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll \
 *     bcryptprimitives.c bcryptprimitives.def -lbcrypt
 * and copy it into the Wine prefix's drive_c/windows/system32.
 */
#include <windows.h>
#include <bcrypt.h>

BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG n = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!BCRYPT_SUCCESS(BCryptGenRandom(NULL, data, n, BCRYPT_USE_SYSTEM_PREFERRED_RNG)))
            return FALSE;
        data += n;
        len -= n;
    }
    return TRUE;
}
