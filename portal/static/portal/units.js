/* The unit after a figure, in the form that agrees with it: "1 głos", "3 głosy", "5 głosów",
   "2,5 głosu". `forms` (an indicator's unit_forms, from portal/text.py) maps Unicode CLDR plural
   categories to forms; Intl.PluralRules picks the category of the figure as it is shown
   (rounded to `decimals`, as toLocaleString shows it). Without forms the unit is shown as is;
   an empty form shows nothing. */
window.sdiUnitAfter = function (value, decimals, unit, forms, lang) {
  "use strict";
  if (!unit || value === null || value === undefined) { return ""; }
  if (!forms) { return " " + unit; }
  var category = new Intl.PluralRules(lang, {
    maximumFractionDigits: decimals, minimumFractionDigits: 0
  }).select(Math.abs(Number(value)));
  var form = category in forms ? forms[category] : ("other" in forms ? forms.other : unit);
  return form ? " " + form : "";
};
