/**
 * The step of the phone tours (390 px) that fails when the page scrolls sideways: once
 * ``trigger`` shows, nothing may be wider than the screen. ``what`` names the page in
 * the error ("The statement", "The placements").
 */
export function nothingWiderThanThePhone(trigger, what) {
    return {
        content: "Nothing is wider than the phone",
        trigger,
        run() {
            const page = document.documentElement;
            if (page.scrollWidth > window.innerWidth + 1) {
                throw new Error(
                    `${what}: ${page.scrollWidth} px wide on a ${window.innerWidth} px screen`
                );
            }
        },
    };
}
