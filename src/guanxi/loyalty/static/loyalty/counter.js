// The counter (收银): keys and clicks that must not commit a sale by accident. Loaded from a file (CSP).
document.addEventListener("keydown", (event) => {
  // Enter in a basket field refreshes the quote; only the commit button commits.
  const field = event.target;
  if (event.key !== "Enter" || !(field instanceof HTMLInputElement) || !field.form) return;
  if (!field.form.matches("[data-counter-sale]")) return;
  event.preventDefault();
  field.dispatchEvent(new Event("change", { bubbles: true }));
});
document.addEventListener("submit", (event) => {
  // One click, one sale: the button waits for the receipt (the key makes a second POST harmless anyway).
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.matches("[data-counter-sale], [data-counter-refund]")) return;
  if (form.dataset.sent) {
    event.preventDefault();
    return;
  }
  form.dataset.sent = "1";
});
