// The hub's one first-party script (CSP: script-src 'self'). Every page works without it: it only
// turns on GOV.UK Frontend's and MOJ Frontend's optional behaviour (menu toggle, error summary
// focus, notification banners, filter toggle), as GOV.UK Frontend's inline page script would.
import { createAll, initAll as initGovuk } from "/static/vendor/govuk-frontend.min.js";
import { FilterToggleButton, initAll as initMoj } from "/static/vendor/moj-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initGovuk();
initMoj();
// MOJ Frontend's initAll leaves the filter toggle out: started here for [data-module="moj-filter"].
createAll(FilterToggleButton);
