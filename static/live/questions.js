/* "Send a question" on the live page (templates/posts/_question_form.html).
 *
 * Without it the form posts and the reader gets a thank-you page. With it
 * the same fields go as JSON to the same URL and the answer shows in the
 * form's status line; the question is cleared once it is sent.
 */
(function () {
  "use strict";

  var form = document.querySelector("form[data-question-form]");
  if (!form || !window.fetch) return;
  var status = form.querySelector("[data-question-status]");
  var button = form.querySelector("button[type=submit]");

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var data = {
      name: form.elements.name.value,
      body: form.elements.body.value,
      website: form.elements.website.value
    };
    button.disabled = true;
    status.textContent = "Sending…";
    fetch(form.action, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(data)
    })
      .then(function (response) {
        return response.json().then(function (reply) { return { ok: response.ok, reply: reply }; });
      })
      .then(function (result) {
        status.textContent = result.reply.detail || (result.ok ? "Sent." : "Your question was not sent.");
        if (result.ok) form.elements.body.value = "";
        else if (result.reply.field && form.elements[result.reply.field]) form.elements[result.reply.field].focus();
      })
      .catch(function () {
        status.textContent = "Your question could not be sent; check your connection and try again.";
      })
      .then(function () { button.disabled = false; });
  });
})();
