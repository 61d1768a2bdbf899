using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace VaeWeb.Server.Data.Migrations
{
    /// <summary>Galleries of models that draw in steps keep the drawing, to play it; older galleries have none.</summary>
    public partial class GalleryAnimation : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "AnimationJson",
                table: "Galleries",
                type: "TEXT",
                nullable: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "AnimationJson",
                table: "Galleries");
        }
    }
}
