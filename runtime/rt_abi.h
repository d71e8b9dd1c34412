/* rt_abi.h — the functions of vitrt.h that a generated shared object exports, in one list
 * for whatever links or checks one (vitc compile's version script and -u flags, the tests
 * that link by hand). The tests that check a .so's exports spell the list out on their own,
 * so that a change of the ABI is a deliberate change of those tests too. */
#ifndef VITC_RT_ABI_H
#define VITC_RT_ABI_H

#define RT_ABI_EXPORTS "vit_open", "vit_info", "vit_run", "vit_set_threads", "vit_set_option", "vit_close"

#endif
